//! The Mattermost plugin RPC messages this plugin sends and receives, as gob structs.
//!
//! Gob matches struct fields by Go field name and skips wire fields a struct does not name, so
//! each struct here lists only the fields the plugin reads or writes. That is also what makes one
//! struct read both request forms of `ServeHTTP`: older servers send a whole `*http.Request`,
//! newer ones an `HTTPRequestSubset`, and both carry `Method`, `URL`, `Header`, `RemoteAddr` and
//! `RequestURI` under those names (docs/mattermost-plugin.md, "Messages").
//!
//! Names follow Mattermost's Go source (`server/public/plugin/client_rpc*.go`,
//! `server/public/model`): hook `H` takes `Z_HArgs` and answers `Z_HReturns`; positional
//! parameters and results are the fields `A`, `B`, ….

#![allow(non_camel_case_types)]

use std::collections::BTreeMap;

use gobwire::{BinaryBytes, Gob, Interface};

/// `http.Header`; ordered, so what the plugin sends is the same bytes every time.
pub type Header = BTreeMap<String, Vec<String>>;

/// `struct{}`: the argument or answer of calls that carry none.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
pub struct Empty {}

/// `*plugin.ErrorString`: how an `error` travels; registered under this exact name.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "ErrorString")]
pub struct ErrorString {
    #[gob(name = "Code")]
    pub code: i64,
    #[gob(name = "Err")]
    pub err: String,
}

/// The name `*plugin.ErrorString` is registered under on the host.
pub const ERROR_STRING: &str = "*plugin.ErrorString";

/// An `error` field's value: `None` is nil.
pub fn error_value(text: &str) -> Option<Interface> {
    Interface::new(
        ERROR_STRING,
        &ErrorString {
            code: 0,
            err: text.to_string(),
        },
    )
    .ok()
}

/// The text of an `error` the host sent: `*plugin.ErrorString` or `*model.AppError`.
pub fn error_text(e: &Interface) -> String {
    if let Ok(s) = e.downcast::<ErrorString>() {
        if !s.err.is_empty() {
            return s.err;
        }
    }
    if let Ok(a) = e.downcast::<AppError>() {
        return a.to_string();
    }
    e.name.clone()
}

/// `*model.AppError`, as a plain struct pointer (`Z_ExecuteCommandReturns.B`) or inside an
/// `error`.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "AppError")]
pub struct AppError {
    #[gob(name = "Id")]
    pub id: String,
    #[gob(name = "Message")]
    pub message: String,
    #[gob(name = "DetailedError")]
    pub detailed_error: String,
    #[gob(name = "StatusCode")]
    pub status_code: i64,
    #[gob(name = "Where")]
    pub r#where: String,
}

impl std::fmt::Display for AppError {
    /// `AppError.Error()`: where, message, and the detail when there is one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.r#where, self.message)?;
        if !self.detailed_error.is_empty() {
            write!(f, ", {}", self.detailed_error)?;
        }
        Ok(())
    }
}

/// `plugin.Context`: who made the request.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "Context")]
pub struct Context {
    #[gob(name = "RequestId")]
    pub request_id: String,
    /// The caller's address as the server saw it (after its trusted-proxy header handling).
    #[gob(name = "IPAddress")]
    pub ip_address: String,
}

/// `Z_OnActivateArgs`: where the host serves its API and database driver.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "Z_OnActivateArgs")]
pub struct OnActivateArgs {
    #[gob(name = "APIMuxId")]
    pub api_mux_id: u32,
    #[gob(name = "DriverMuxId")]
    pub driver_mux_id: u32,
}

/// `Z_OnActivateReturns`, also `Z_OnDeactivateReturns` and `Z_OnConfigurationChangeReturns`:
/// one `error`. (Newer hosts also have `ContextHTTP`; leaving it out answers "no".)
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "Z_OnActivateReturns")]
pub struct ErrorReturns {
    #[gob(name = "A")]
    pub a: Option<Interface>,
}

/// The request inside `Z_ServeHTTPArgs`: `*HTTPRequestSubset` or `*http.Request`, read by the
/// fields both share.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "HTTPRequestSubset")]
pub struct HttpRequest {
    #[gob(name = "Method")]
    pub method: String,
    /// `*url.URL`, which marshals itself to `URL.String()`.
    #[gob(name = "URL")]
    pub url: Option<BinaryBytes>,
    #[gob(name = "Header")]
    pub header: Header,
    #[gob(name = "RemoteAddr")]
    pub remote_addr: String,
}

/// `Z_ServeHTTPArgs`: the request, and the broker ids of the response writer and the body.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "Z_ServeHTTPArgs")]
pub struct ServeHttpArgs {
    #[gob(name = "ResponseWriterStream")]
    pub response_writer_stream: u32,
    #[gob(name = "Request")]
    pub request: Option<HttpRequest>,
    #[gob(name = "Context")]
    pub context: Option<Context>,
    /// 0: the request has no body.
    #[gob(name = "RequestBodyStream")]
    pub request_body_stream: u32,
}

/// `model.CommandArgs`, the fields the slash command reads.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "CommandArgs")]
pub struct CommandArgs {
    #[gob(name = "UserId")]
    pub user_id: String,
    /// The whole text typed, e.g. `/pushgate status`.
    #[gob(name = "Command")]
    pub command: String,
    #[gob(name = "SiteURL")]
    pub site_url: String,
}

/// `Z_ExecuteCommandArgs`.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "Z_ExecuteCommandArgs")]
pub struct ExecuteCommandArgs {
    #[gob(name = "A")]
    pub context: Option<Context>,
    #[gob(name = "B")]
    pub args: Option<CommandArgs>,
}

/// `model.CommandResponse`, the fields the slash command sets.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "CommandResponse")]
pub struct CommandResponse {
    /// `ephemeral`: only the caller sees it.
    #[gob(name = "ResponseType")]
    pub response_type: String,
    #[gob(name = "Text")]
    pub text: String,
}

/// `Z_ExecuteCommandReturns`.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "Z_ExecuteCommandReturns")]
pub struct ExecuteCommandReturns {
    #[gob(name = "A")]
    pub response: Option<CommandResponse>,
    #[gob(name = "B")]
    pub error: Option<AppError>,
}

/// `model.Command`, the fields a plugin command is registered with.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "Command")]
pub struct Command {
    #[gob(name = "Trigger")]
    pub trigger: String,
    #[gob(name = "AutoComplete")]
    pub auto_complete: bool,
    #[gob(name = "AutoCompleteDesc")]
    pub auto_complete_desc: String,
    #[gob(name = "AutoCompleteHint")]
    pub auto_complete_hint: String,
    #[gob(name = "DisplayName")]
    pub display_name: String,
    #[gob(name = "Description")]
    pub description: String,
}

/// `Z_RegisterCommandArgs`.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "Z_RegisterCommandArgs")]
pub struct RegisterCommandArgs {
    #[gob(name = "A")]
    pub command: Option<Command>,
}

/// `Z_LogInfoArgs` (the same shape for every level): a message and the key/value pairs, already
/// strings as Go's client makes them.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "Z_LogInfoArgs")]
pub struct LogArgs {
    #[gob(name = "A")]
    pub message: String,
    #[gob(name = "B")]
    pub pairs: Vec<Option<Interface>>,
}

/// `Z_LoadPluginConfigurationArgsReturns` (sic): the settings as a JSON object with lower-cased
/// keys.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "Z_LoadPluginConfigurationArgsReturns")]
pub struct LoadConfigurationReturns {
    #[gob(name = "A")]
    pub json: Vec<u8>,
}

/// `Z_SavePluginConfigArgs`: the plugin's whole settings map, which replaces the stored one.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "Z_SavePluginConfigArgs")]
pub struct SavePluginConfigArgs {
    #[gob(name = "A")]
    pub settings: BTreeMap<String, Option<Interface>>,
}

/// `Z_SavePluginConfigReturns`: nil, or why the server refused.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "Z_SavePluginConfigReturns")]
pub struct SavePluginConfigReturns {
    #[gob(name = "A")]
    pub a: Option<AppError>,
}

/// `model.Permission`: the server checks a permission by its id.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "Permission")]
pub struct Permission {
    #[gob(name = "Id")]
    pub id: String,
}

/// `Z_HasPermissionToArgs`.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "Z_HasPermissionToArgs")]
pub struct HasPermissionToArgs {
    #[gob(name = "A")]
    pub user_id: String,
    #[gob(name = "B")]
    pub permission: Option<Permission>,
}

/// `Z_HasPermissionToReturns`.
#[derive(Gob, Debug, Default, Clone, PartialEq)]
#[gob(name = "Z_HasPermissionToReturns")]
pub struct HasPermissionToReturns {
    #[gob(name = "A")]
    pub allowed: bool,
}
