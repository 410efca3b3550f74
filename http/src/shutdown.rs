//! Ctrl-C and SIGTERM as one future, for binaries' graceful shutdown.

use std::future::Future;

/// Completes on the first Ctrl-C (SIGINT) or SIGTERM.
///
/// The handlers are installed when `signal()` is *called* (it must be called inside a Tokio
/// runtime), not when the future is first polled: a service creates this future before it
/// binds and starts answering, so a SIGTERM sent as soon as it answers (say, right after its
/// `/health` said ready) always finds the handler and shuts it down gracefully, instead of
/// killing it with the default action in the moment before its serve loop first polls it.
pub fn signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (int, term) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: std::io::Result<tokio::signal::unix::Signal>, what: &'static str| async move {
                match s {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for {what}");
                        std::future::pending::<()>().await;
                    }
                }
            };
            tokio::select! {
                () = wait(int, "ctrl-c") => tracing::info!("ctrl-c received, shutting down"),
                () = wait(term, "SIGTERM") => tracing::info!("SIGTERM received, shutting down"),
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::warn!(error = %e, "cannot listen for ctrl-c");
                std::future::pending::<()>().await;
            }
            tracing::info!("ctrl-c received, shutting down");
        }
    }
}
