//! (being written) The background compactor.

use std::sync::Arc;

use super::Pool;
use crate::Result;

#[derive(Clone)]
pub(crate) struct Handle;

impl Handle {
    pub(crate) fn nudge(&self) {}
    pub(crate) fn stop(&self) {}
}

pub(crate) fn start(_pool: Arc<Pool>) -> Result<Handle> {
    Ok(Handle)
}
