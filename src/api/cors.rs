//! CORS for `/api/*` and `/cli/*` (spec/http-general.md §3.2, with v0.30.7's method and header
//! lists: PATCH, PUT and `last-event-id` included).

use crate::http::Response;

const METHODS: &str = "GET,POST,PUT,PATCH,DELETE,OPTIONS";
const HEADERS: &str = "authorization,content-type,last-event-id";

/// The allowed-origin policy.
pub struct Cors {
    origins: Vec<String>,
}

impl Cors {
    /// A policy over normalized origins (`["*"]` allows all).
    pub fn new(origins: Vec<String>) -> Cors {
        Cors { origins }
    }

    fn any(&self) -> bool {
        self.origins.iter().any(|o| o == "*")
    }

    /// The `Access-Control-Allow-Origin` value for a request origin, if allowed.
    pub fn allow(&self, origin: Option<&str>) -> Option<String> {
        if self.any() {
            return Some("*".into());
        }
        let o = origin?;
        self.origins.iter().any(|x| x == o).then(|| o.to_string())
    }

    /// The 204 answer to a preflight.
    pub fn preflight(&self, origin: Option<&str>) -> Response {
        let mut r = Response::empty(204);
        if let Some(a) = self.allow(origin) {
            r = r.header("Access-Control-Allow-Origin", a);
        }
        r = r
            .header("Access-Control-Allow-Methods", METHODS)
            .header("Access-Control-Allow-Headers", HEADERS);
        if self.any() {
            r.header("Vary", "Access-Control-Request-Headers")
        } else {
            r.header("Vary", "Origin, Access-Control-Request-Headers")
        }
    }

    /// Adds the CORS headers to a route's answer.
    pub fn decorate(&self, origin: Option<&str>, mut r: Response) -> Response {
        if let Some(a) = self.allow(origin) {
            r = r.header("Access-Control-Allow-Origin", a);
        }
        if !self.any() {
            r = r.header("Vary", "Origin");
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_and_star() {
        let c = Cors::new(vec!["http://localhost:3006".into()]);
        assert_eq!(
            c.allow(Some("http://localhost:3006")).as_deref(),
            Some("http://localhost:3006")
        );
        assert_eq!(c.allow(Some("http://evil.example")), None);
        let p = c.preflight(Some("http://evil.example"));
        assert_eq!(p.status, 204);
        assert!(
            p.headers
                .iter()
                .all(|(n, _)| *n != "Access-Control-Allow-Origin")
        );
        let star = Cors::new(vec!["*".into()]);
        assert_eq!(star.allow(None).as_deref(), Some("*"));
    }
}
