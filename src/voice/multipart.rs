//! `multipart/form-data` (RFC 7578), both ways: reading the web's audio upload
//! (`POST /api/voice/transcription`) and writing the form sent to a transcription provider.
//! Parts borrow from the body, so a 25 MiB upload is not copied while it is read.

/// One part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// `name` of its Content-Disposition.
    pub name: String,
    /// `filename`, present for a file.
    pub filename: Option<String>,
    /// Its Content-Type, if given.
    pub content_type: Option<String>,
    /// Its bytes.
    pub data: &'a [u8],
}

/// The boundary of a `multipart/form-data` Content-Type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let kind = params.next()?.trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim().trim_matches('"');
        (!v.is_empty() && v.len() <= 70).then(|| v.to_string())
    })
}

/// The first `needle` in `hay` at or after `from`, in linear time (Knuth–Morris–Pratt), so a
/// 26 MiB body crafted to almost match the boundary everywhere costs no more than any other.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let mut fail = vec![0usize; needle.len()];
    let mut k = 0;
    for i in 1..needle.len() {
        while k > 0 && needle[i] != needle[k] {
            k = fail[k - 1];
        }
        if needle[i] == needle[k] {
            k += 1;
        }
        fail[i] = k;
    }
    let mut k = 0;
    for (i, &b) in hay.iter().enumerate().skip(from) {
        while k > 0 && b != needle[k] {
            k = fail[k - 1];
        }
        if b == needle[k] {
            k += 1;
        }
        if k == needle.len() {
            return Some(i + 1 - k);
        }
    }
    None
}

/// A header parameter (`name="x"`) of a Content-Disposition value.
fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Most parts read from one form (a web upload has four).
pub const MAX_PARTS: usize = 64;

/// The parts of `body`, or `None` when it is not a well-formed form with that boundary (or
/// has more than [`MAX_PARTS`] parts).
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<Part<'a>>> {
    let delim = format!("--{boundary}");
    let mut at = find(body, delim.as_bytes(), 0)?;
    let sep = format!("\r\n--{boundary}");
    let mut parts = Vec::new();
    loop {
        at += delim.len();
        if body[at..].starts_with(b"--") {
            return Some(parts);
        }
        if !body[at..].starts_with(b"\r\n") {
            return None;
        }
        at += 2;
        let head_end = find(body, b"\r\n\r\n", at)?;
        let head = std::str::from_utf8(&body[at..head_end]).ok()?;
        let data_start = head_end + 4;
        let data_end = find(body, sep.as_bytes(), data_start)?;
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let (k, v) = line.split_once(':')?;
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                name = param(v, "name");
                filename = param(v, "filename");
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(v.trim().to_string());
            }
        }
        if parts.len() == MAX_PARTS {
            return None;
        }
        parts.push(Part {
            name: name?,
            filename,
            content_type,
            data: &body[data_start..data_end],
        });
        at = data_end + 2;
    }
}

/// A form to send: text fields and at most a few files.
#[derive(Debug, Default)]
pub struct Form {
    boundary: String,
    body: Vec<u8>,
}

impl Form {
    /// An empty form with a boundary that does not occur in `payload`.
    pub fn new(payload: &[u8]) -> Form {
        let mut n: u64 = 0x5a17_c0de;
        loop {
            let boundary = format!("----hapidFormBoundary{n:016x}");
            if find(payload, boundary.as_bytes(), 0).is_none() {
                return Form {
                    boundary,
                    body: Vec::new(),
                };
            }
            n = n.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
    }

    fn quoted(s: &str) -> String {
        s.replace('"', "%22").replace(['\r', '\n'], " ")
    }

    /// Appends a text field.
    pub fn text(&mut self, name: &str, value: &str) {
        let head = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n",
            self.boundary,
            Self::quoted(name)
        );
        self.body.extend_from_slice(head.as_bytes());
        self.body.extend_from_slice(value.as_bytes());
        self.body.extend_from_slice(b"\r\n");
    }

    /// Appends a file field.
    pub fn file(&mut self, name: &str, filename: &str, content_type: &str, data: &[u8]) {
        let head = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
            self.boundary,
            Self::quoted(name),
            Self::quoted(filename),
            content_type.replace(['\r', '\n'], "")
        );
        self.body.extend_from_slice(head.as_bytes());
        self.body.extend_from_slice(data);
        self.body.extend_from_slice(b"\r\n");
    }

    /// The Content-Type header value and the body.
    pub fn finish(mut self) -> (String, Vec<u8>) {
        self.body
            .extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        (
            format!("multipart/form-data; boundary={}", self.boundary),
            self.body,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_form_reads_back() {
        let mut f = Form::new(b"audio");
        f.file("file", "a \"b\".webm", "audio/webm", b"\r\n--x audio");
        f.text("model", "m1");
        let (ct, body) = f.finish();
        let b = boundary(&ct).unwrap();
        let parts = parse(&body, &b).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "file");
        assert_eq!(parts[0].filename.as_deref(), Some("a %22b%22.webm"));
        assert_eq!(parts[0].content_type.as_deref(), Some("audio/webm"));
        assert_eq!(parts[0].data, b"\r\n--x audio");
        assert_eq!(parts[1].data, b"m1");
        assert_eq!(parts[1].filename, None);
    }

    #[test]
    fn arbitrary_bodies_never_panic() {
        let alphabet = b"-q\r\n:;=\"ab";
        let mut seed: u64 = 1;
        for len in 0..400 {
            let body: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    alphabet[(seed >> 33) as usize % alphabet.len()]
                })
                .collect();
            let _ = parse(&body, "q");
            let _ = parse(&body, "-q");
        }
    }

    #[test]
    fn search_finds_overlapping_prefixes() {
        assert_eq!(find(b"aaab--q--q", b"--q", 0), Some(4));
        assert_eq!(find(b"--q--q", b"--q", 1), Some(3));
        assert_eq!(find(b"ababac", b"abac", 0), Some(2));
        assert_eq!(find(b"abc", b"abcd", 0), None);
    }

    #[test]
    fn malformed_forms_are_refused() {
        assert_eq!(boundary("application/json"), None);
        assert_eq!(
            boundary("multipart/form-data; boundary=\"q\"").as_deref(),
            Some("q")
        );
        assert!(parse(b"--q\r\nno head end", "q").is_none());
        assert!(parse(b"nothing", "q").is_none());
        assert!(parse(b"--q\r\nContent-Type: x\r\n\r\nv\r\n--q--", "q").is_none());
        assert_eq!(parse(b"--q--\r\n", "q"), Some(vec![]));
    }
}
