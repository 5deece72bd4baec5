//! The Mattermost server's plugin API, as far as this plugin calls it: one net/rpc client on
//! the stream the host offered at `OnActivate`.

use gobwire::Interface;

use crate::wire::{
    Command, Empty, ErrorReturns, HasPermissionToArgs, HasPermissionToReturns,
    LoadConfigurationReturns, LogArgs, Permission, RegisterCommandArgs, SavePluginConfigArgs,
    SavePluginConfigReturns,
};

#[derive(Clone)]
pub struct Api {
    client: go_netrpc::Client,
}

#[derive(Debug, Clone, Copy)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Api {
    pub fn new(client: go_netrpc::Client) -> Self {
        Api { client }
    }

    /// The plugin's settings as JSON (keys lower-cased by the server).
    pub async fn load_configuration(&self) -> Result<Vec<u8>, String> {
        let r: LoadConfigurationReturns = self
            .client
            .call("Plugin.LoadPluginConfiguration", &Empty {})
            .await
            .map_err(|e| e.to_string())?;
        Ok(r.json)
    }

    /// Replaces the plugin's stored settings with `settings` (a JSON object as
    /// `load_configuration` gives it: strings, booleans and numbers, which is all the manifest
    /// defines); the server then calls `OnConfigurationChange`.
    pub async fn save_configuration(
        &self,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), String> {
        use serde_json::Value;
        let settings = settings
            .iter()
            .filter_map(|(key, value)| {
                let value = match value {
                    Value::String(s) => Interface::string(s.as_str()),
                    Value::Bool(b) => Interface::bool(*b),
                    // Go's JSON gives float64 for every number: the server stores those.
                    Value::Number(n) => Interface::float64(n.as_f64()?),
                    Value::Null | Value::Array(_) | Value::Object(_) => return None,
                };
                Some((key.clone(), Some(value)))
            })
            .collect();
        let r: SavePluginConfigReturns = self
            .client
            .call(
                "Plugin.SavePluginConfig",
                &SavePluginConfigArgs { settings },
            )
            .await
            .map_err(|e| e.to_string())?;
        match r.a {
            None => Ok(()),
            Some(e) => Err(e.to_string()),
        }
    }

    /// Writes to the server log, tagged with the plugin id. Pairs are key, value, key, value.
    /// A failure to log is dropped: there is nowhere else to report it.
    pub async fn log(&self, level: Level, message: &str, pairs: &[(&str, &str)]) {
        let method = match level {
            Level::Info => "Plugin.LogInfo",
            Level::Warn => "Plugin.LogWarn",
            Level::Error => "Plugin.LogError",
        };
        let _: Result<Empty, _> = self.client.call(method, &log_args(message, pairs)).await;
    }

    pub async fn register_command(&self, command: Command) -> Result<(), String> {
        let r: ErrorReturns = self
            .client
            .call(
                "Plugin.RegisterCommand",
                &RegisterCommandArgs {
                    command: Some(command),
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        match r.a {
            None => Ok(()),
            Some(e) => Err(crate::wire::error_text(&e)),
        }
    }

    /// Whether `user_id` holds `permission` (e.g. `manage_system`) system-wide.
    pub async fn has_permission(&self, user_id: &str, permission: &str) -> Result<bool, String> {
        let r: HasPermissionToReturns = self
            .client
            .call(
                "Plugin.HasPermissionTo",
                &HasPermissionToArgs {
                    user_id: user_id.to_string(),
                    permission: Some(Permission {
                        id: permission.to_string(),
                    }),
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(r.allowed)
    }
}

/// A log call's arguments: the pairs as strings, as Go's client makes them (`stringifier.go`).
pub fn log_args(message: &str, pairs: &[(&str, &str)]) -> LogArgs {
    LogArgs {
        message: message.to_string(),
        pairs: pairs
            .iter()
            .flat_map(|(k, v)| [Some(Interface::string(*k)), Some(Interface::string(*v))])
            .collect(),
    }
}
