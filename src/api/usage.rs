//! `GET /api/usage/summary` (Settings → Token usage): the query and the answer; the
//! contract and the aggregation are in `hub::usage`.

use super::{Caller, query_param, store_failure};
use crate::app::Now;
use crate::http::{Request, Response};
use crate::hub::Hub;
use crate::hub::usage::SummaryError;

/// Answers the summary of the caller's namespace.
pub fn summary(hub: &mut Hub, caller: &Caller, req: &Request, now: Now) -> Response {
    let q = &req.head.query;
    let range = query_param(q, "range");
    let zone = query_param(q, "timeZone");
    match hub.usage_summary(&caller.ns, range.as_deref(), zone.as_deref(), now) {
        Ok(v) => Response::json(200, &v),
        Err(SummaryError::InvalidTimeZone) => Response::error(400, "Invalid timeZone"),
        Err(SummaryError::Store(e)) => store_failure(e),
    }
}
