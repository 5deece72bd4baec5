//! The two streams a `ServeHTTP` call lends the plugin: the request body, pulled in chunks the
//! plugin asks for, and the response writer, a net/rpc server on the host
//! (docs/mattermost-plugin.md, "ServeHTTP").

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::wire::{Empty, Header};

/// Reads the request body through the host's pull protocol: the plugin writes how many bytes
/// it wants (a Go signed varint), the host copies up to that many and closes the stream when the
/// body ended. One pull for `limit + 1` bytes reads any body the bridge accepts, and shows a
/// larger one as larger without reading it all.
pub async fn read_body<S>(mut stream: S, limit: usize) -> std::io::Result<Vec<u8>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let want = limit + 1;
    stream.write_all(&go_varint(want as i64)).await?;
    stream.flush().await?;
    // Push bodies are a few KiB: grow as the bytes come rather than set 1 MiB aside.
    let mut body = Vec::with_capacity(4096);
    while body.len() < want {
        if body.len() == body.capacity() {
            body.reserve((want - body.len()).min(64 * 1024));
        }
        let room = (want - body.len()).min(body.capacity() - body.len());
        let n = (&mut stream).take(room as u64).read_buf(&mut body).await?;
        if n == 0 {
            break;
        }
    }
    let _ = stream.shutdown().await;
    Ok(body)
}

/// Go's `binary.PutVarint`: zig-zag, then 7 bits a byte, low first.
pub fn go_varint(v: i64) -> Vec<u8> {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    let mut out = Vec::with_capacity(10);
    while u >= 0x80 {
        out.push((u as u8) | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
    out
}

/// Writes `response` through the host's response writer, one call at a time (the host runs
/// the calls of a stream concurrently, so order holds only if each waits for the last): the
/// headers, the status, the body. A 200 with a body needs no `WriteHeader`: the first `Write`
/// implies it, as in Go.
///
/// The headers sent replace the server's (`SyncHeader` deletes what it does not name), as they
/// do for a Go plugin that never reads `w.Header()`: the answer carries the bridge's headers and
/// no others, as MPNS's does, and the round trip of asking for the server's is saved.
pub async fn write_response(
    writer: &go_netrpc::Client,
    response: http::Response<bytes::Bytes>,
) -> Result<(), go_netrpc::Error> {
    let (parts, body) = response.into_parts();
    let _: Empty = writer
        .call("Plugin.SyncHeader", &go_header(&parts.headers))
        .await?;
    if parts.status != http::StatusCode::OK || body.is_empty() {
        let _: Empty = writer
            .call("Plugin.WriteHeader", &i64::from(parts.status.as_u16()))
            .await?;
    }
    if !body.is_empty() {
        let _: Empty = writer.call("Plugin.Write", &body.to_vec()).await?;
    }
    Ok(())
}

/// `headers` as Go's `http.Header`, without the framing headers: the host's net/http frames the
/// body itself.
pub fn go_header(headers: &http::HeaderMap) -> Header {
    let mut out = Header::new();
    for name in headers.keys() {
        if matches!(
            name,
            &http::header::CONTENT_LENGTH
                | &http::header::TRANSFER_ENCODING
                | &http::header::CONNECTION
        ) {
            continue;
        }
        let values = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(String::from))
            .collect();
        out.insert(canonical(name.as_str()), values);
    }
    out
}

/// Go's canonical header key (`content-type` → `Content-Type`); the host's `http.Header` is
/// keyed that way, and a lower-case key would sit beside the canonical one.
pub fn canonical(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_as_go_writes_them() {
        assert_eq!(go_varint(1), [0x02]);
        assert_eq!(go_varint(4096), [0x80, 0x40]);
        assert_eq!(go_varint(32768), [0x80, 0x80, 0x04]);
        assert_eq!(go_varint(65536), [0x80, 0x80, 0x08]);
        assert_eq!(go_varint(1 << 20), [0x80, 0x80, 0x80, 0x01]);
    }

    #[test]
    fn canonical_header_names() {
        assert_eq!(canonical("content-type"), "Content-Type");
        assert_eq!(
            canonical("x-content-type-options"),
            "X-Content-Type-Options"
        );
        assert_eq!(canonical("x-ratelimit-limit"), "X-Ratelimit-Limit");
    }

    #[tokio::test]
    async fn a_body_is_read_to_its_end_and_a_larger_one_stops_at_the_limit() {
        for (size, limit, want) in [(0, 10, 0), (5, 10, 5), (10, 10, 10), (50, 10, 11)] {
            let (ours, mut host) = tokio::io::duplex(1 << 16);
            let served = tokio::spawn(async move {
                // The host's side of io_rpc.go: read one varint, copy up to that many, close.
                let asked = go_varint((limit + 1) as i64);
                let mut got = vec![0u8; asked.len()];
                host.read_exact(&mut got).await.unwrap();
                assert_eq!(got, asked, "one pull for the limit + 1");
                let body = vec![b'x'; size];
                host.write_all(&body[..size.min(limit + 1)]).await.unwrap();
                host.shutdown().await.unwrap();
            });
            let body = read_body(ours, limit).await.unwrap();
            served.await.unwrap();
            assert_eq!(body.len(), want, "size {size} limit {limit}");
        }
    }
}
