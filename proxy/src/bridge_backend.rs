//! The embedded bridge's backend: the MPNS HTTP API inside the `pushgate` binary calls the
//! service directly — the same validation and answers as over gRPC, without a network hop.

use pushgate::v1::{
    PushAck, PushNotification, SendAckResponse, SendPushRequest, SendPushResponse, SendRequest,
    SendResponse,
};
use pushgate_bridge::{Backend, Readiness};

use crate::service::PushService;

/// The embedded bridge calls the service directly: same validation, no network hop.
impl Backend for PushService {
    // Not an `async fn`: it would hold the notification for the push's whole flight.
    fn send_push(
        &self,
        n: PushNotification,
    ) -> impl std::future::Future<Output = Result<SendPushResponse, tonic::Status>> + Send {
        self.send_push_answer(SendPushRequest {
            notification: Some(n),
            request_id: String::new(),
        })
    }

    async fn send_ack(&self, ack: PushAck) -> Result<SendAckResponse, tonic::Status> {
        self.send_ack_answer(&ack)
    }

    async fn send(&self, request: SendRequest) -> Result<SendResponse, tonic::Status> {
        self.send_answer(request).await
    }

    fn metrics(&self) -> Option<String> {
        Some(PushService::metrics(self).render())
    }

    fn bad_request(&self, took: std::time::Duration) {
        let metrics = PushService::metrics(self);
        metrics.bad_request.inc();
        metrics.request_duration.observe(took.as_secs_f64());
    }

    fn throttle_backend_error(&self) {
        PushService::metrics(self).throttle_backend_errors.inc();
    }

    fn throttled(&self) {
        PushService::metrics(self).throttled.inc();
    }

    async fn readiness(&self) -> Readiness {
        Readiness {
            ready: !self.health().is_draining(),
            targets: self.health().targets(),
        }
    }
}
