//! `GET /api/usage/summary` (Settings → Token usage): the query and the answer; the
//! contract and the aggregation are in `hub::usage`.

use super::{Caller, query_param, store_failure};
use crate::app::Now;
use crate::http::{Request, Response};
use crate::hub::Hub;
use crate::hub::usage::SummaryError;

/// The namespace of the hub owner (the bare `CLI_API_TOKEN`), the only one answered.
const OWNER_NAMESPACE: &str = "default";

/// Answers the summary of the owner's namespace; any other namespace gets a 403.
pub fn summary(hub: &mut Hub, caller: &Caller, req: &Request, now: Now) -> Response {
    if caller.ns != OWNER_NAMESPACE {
        return Response::error(403, "Usage summary is only available to the hub owner");
    }
    let q = &req.head.query;
    let range = query_param(q, "range");
    let zone = query_param(q, "timeZone");
    match hub.usage_summary(&caller.ns, range.as_deref(), zone.as_deref(), now) {
        Ok(v) => Response::json(200, &v),
        Err(SummaryError::InvalidTimeZone) => Response::error(400, "Invalid timeZone"),
        Err(SummaryError::Store(e)) => store_failure(e),
    }
}
