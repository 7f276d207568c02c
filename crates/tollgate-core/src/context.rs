//! What the core learns while it serves one request that the request's log line reports: the
//! session a token named or a login opened. A task-local, so that neither handlers nor the
//! core's signatures carry it, and nothing is allocated for it.

use std::cell::Cell;
use std::future::Future;

use uuid::Uuid;

tokio::task_local! {
    static SESSION: Cell<Option<Uuid>>;
}

/// Runs `future` (a request) and returns its output with the session the core noted for it.
pub async fn scope<F: Future>(future: F) -> (F::Output, Option<Uuid>) {
    SESSION
        .scope(Cell::new(None), async move {
            let output = future.await;
            (output, SESSION.with(Cell::get))
        })
        .await
}

/// Notes the session the current request acts for; outside [`scope`], nothing happens.
pub(crate) fn note_session(id: Uuid) {
    let _ = SESSION.try_with(|session| session.set(Some(id)));
}
