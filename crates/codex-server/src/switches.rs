//! Stored plugin switches, applied to this server's plugin manager and kept in step with the
//! other servers on the database through the store's bus.
//!
//! At start every stored switch is applied; afterwards a notification on
//! [`PLUGIN_SETTINGS_CHANNEL`] names the plugin to reread, a resync rereads them all, and a
//! change of the plugin list (a reload that brought a plugin back) applies them again. A stored
//! `None` (a switch cleared with `codexcontinue plugins reset`) returns the plugin to what the
//! configuration says.

use std::sync::Arc;

use codex_host::PluginManager;
use codex_store::{EventStore, PLUGIN_SETTINGS_CHANNEL, PluginSetting, StoreError, Subscription};
use tokio_util::sync::CancellationToken;

/// Subscribes, applies what is stored, and keeps applying changes until `stop` is cancelled
/// or the store closes. Answers once the stored switches hold on this server.
pub(crate) async fn start(
    store: Arc<dyn EventStore>,
    plugins: PluginManager,
    stop: CancellationToken,
) -> Result<(), StoreError> {
    // Subscribe first, so a change made while the switches load is heard.
    let subscription = store.subscribe(&[PLUGIN_SETTINGS_CHANNEL]).await?;
    apply_all(store.as_ref(), &plugins).await?;
    tokio::spawn(follow(store, plugins, subscription, stop));
    Ok(())
}

async fn follow(
    store: Arc<dyn EventStore>,
    plugins: PluginManager,
    mut subscription: Subscription,
    stop: CancellationToken,
) {
    let mut generation = plugins.subscribe();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            changed = generation.changed() => {
                if changed.is_err() {
                    return;
                }
                // A reload may have brought back a plugin whose switch is stored.
                if let Err(err) = apply_all(store.as_ref(), &plugins).await {
                    tracing::warn!(error = %err, "cannot reapply stored plugin switches");
                }
            }
            notification = subscription.recv() => {
                let Some(notification) = notification else { return };
                let applied = if notification.resync {
                    apply_all(store.as_ref(), &plugins).await
                } else {
                    match store.plugin_setting(&notification.payload).await {
                        Ok(Some(setting)) => {
                            apply(&plugins, &setting);
                            Ok(())
                        }
                        Ok(None) => Ok(()),
                        Err(err) => Err(err),
                    }
                };
                if let Err(err) = applied {
                    tracing::warn!(error = %err, "cannot read stored plugin switches");
                }
            }
        }
    }
}

async fn apply_all(store: &dyn EventStore, plugins: &PluginManager) -> Result<(), StoreError> {
    for setting in store.plugin_settings().await? {
        apply(plugins, &setting);
    }
    Ok(())
}

/// Switches the plugin if the stored switch differs from its state here, or returns it to
/// what this server's settings say when the stored switch was cleared; a plugin this server
/// does not have is left alone.
fn apply(plugins: &PluginManager, setting: &PluginSetting) {
    let Ok(entry) = plugins.get(&setting.plugin) else {
        // Still loading: the switch holds from the moment the plugin appears.
        if plugins.loading().is_some() {
            let policy = setting
                .policy
                .as_deref()
                .and_then(codex_plugin::Policy::parse);
            plugins.preset(&setting.plugin, setting.enabled, policy);
        }
        return;
    };
    apply_policy(plugins, setting);
    let Some(enabled) = setting.enabled else {
        if let Err(err) = plugins.reset_enabled(&setting.plugin) {
            tracing::warn!(plugin = %setting.plugin, error = %err, "cannot clear a stored switch");
        }
        return;
    };
    if entry.is_enabled() != enabled
        && let Err(err) = plugins.set_enabled(&setting.plugin, enabled)
    {
        tracing::warn!(plugin = %setting.plugin, error = %err, "cannot apply a stored switch");
    }
}

/// Sets the stored approval policy here (a cleared one returns the plugin to its settings').
/// A policy the store holds but this build does not know is left out, with a warning.
fn apply_policy(plugins: &PluginManager, setting: &PluginSetting) {
    let policy = match setting.policy.as_deref().map(codex_plugin::Policy::parse) {
        None => None,
        Some(Some(policy)) => Some(policy),
        Some(None) => {
            tracing::warn!(plugin = %setting.plugin, policy = ?setting.policy, "unknown stored policy ignored");
            return;
        }
    };
    if let Err(err) = plugins.set_policy(&setting.plugin, policy) {
        tracing::warn!(plugin = %setting.plugin, error = %err, "cannot apply a stored policy");
    }
}
