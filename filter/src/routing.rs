//! Method + path-template matching over a trie of path segments.
//!
//! Lookup cost depends on the number of segments in the request path, not on
//! the number of operations. Literal segments win over template variables
//! (OpenAPI: "concrete paths are matched before templated ones"), with
//! backtracking when a literal branch leads nowhere.

use std::collections::HashMap;

/// Most path segments looked at; longer paths match nothing.
pub const MAX_SEGMENTS: usize = 64;

#[derive(Default)]
struct Node {
    literal: HashMap<String, usize>,
    variable: Option<usize>,
    /// (method, operation index) for templates ending here.
    ops: Vec<(String, usize)>,
}

/// What a request path and method resolved to.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// An operation, with the raw (still percent-encoded) values of its
    /// template variables in template order.
    Found {
        op: usize,
        vars: Vec<String>,
    },
    /// The path exists with other methods.
    MethodNotAllowed,
    NotFound,
}

pub struct Router {
    nodes: Vec<Node>,
}

impl Router {
    /// Builds the trie from (method, template, operation index) triples.
    pub fn new<'a>(routes: impl IntoIterator<Item = (&'a str, &'a str, usize)>) -> Router {
        let mut r = Router {
            nodes: vec![Node::default()],
        };
        for (method, template, op) in routes {
            let mut cur = 0;
            for seg in template.split('/').skip(1) {
                cur = if seg.starts_with('{') {
                    match r.nodes[cur].variable {
                        Some(n) => n,
                        None => {
                            let n = r.push();
                            r.nodes[cur].variable = Some(n);
                            n
                        }
                    }
                } else {
                    match r.nodes[cur].literal.get(seg) {
                        Some(&n) => n,
                        None => {
                            let n = r.push();
                            r.nodes[cur].literal.insert(seg.to_string(), n);
                            n
                        }
                    }
                };
            }
            r.nodes[cur].ops.push((method.to_string(), op));
        }
        r
    }

    fn push(&mut self) -> usize {
        self.nodes.push(Node::default());
        self.nodes.len() - 1
    }

    /// Resolves `path` (no query string) for `method`.
    pub fn lookup(&self, method: &str, path: &str) -> Lookup {
        let Some(rest) = path.strip_prefix('/') else {
            return Lookup::NotFound;
        };
        let segs: Vec<&str> = rest.split('/').take(MAX_SEGMENTS + 1).collect();
        if segs.len() > MAX_SEGMENTS {
            return Lookup::NotFound;
        }
        let mut vars = Vec::new();
        let mut method_seen = false;
        match self.walk(0, &segs, method, &mut vars, &mut method_seen) {
            Some(op) => {
                vars.reverse();
                Lookup::Found { op, vars }
            }
            None if method_seen => Lookup::MethodNotAllowed,
            None => Lookup::NotFound,
        }
    }

    fn walk(
        &self,
        node: usize,
        segs: &[&str],
        method: &str,
        vars: &mut Vec<String>,
        path_seen: &mut bool,
    ) -> Option<usize> {
        let n = &self.nodes[node];
        let Some((first, rest)) = segs.split_first() else {
            if !n.ops.is_empty() {
                *path_seen = true;
            }
            return n.ops.iter().find(|(m, _)| m == method).map(|(_, op)| *op);
        };
        if let Some(&child) = n.literal.get(*first) {
            if let Some(op) = self.walk(child, rest, method, vars, path_seen) {
                return Some(op);
            }
        }
        if let Some(child) = n.variable {
            // An empty segment never binds a variable (`/orders//items`).
            if !first.is_empty() {
                if let Some(op) = self.walk(child, rest, method, vars, path_seen) {
                    vars.push((*first).to_string());
                    return Some(op);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new([
            ("GET", "/orders", 0),
            ("POST", "/orders", 1),
            ("GET", "/orders/{id}", 2),
            ("GET", "/orders/mine", 3),
            ("GET", "/orders/{id}/items/{item}", 4),
            ("GET", "/a/b/c", 5),
            ("GET", "/a/{x}/d", 6),
        ])
    }

    #[test]
    fn literals_win_and_variables_bind() {
        let r = router();
        assert_eq!(
            r.lookup("GET", "/orders"),
            Lookup::Found {
                op: 0,
                vars: vec![]
            }
        );
        assert_eq!(
            r.lookup("GET", "/orders/mine"),
            Lookup::Found {
                op: 3,
                vars: vec![]
            }
        );
        assert_eq!(
            r.lookup("GET", "/orders/42"),
            Lookup::Found {
                op: 2,
                vars: vec!["42".into()]
            }
        );
        assert_eq!(
            r.lookup("GET", "/orders/42/items/7"),
            Lookup::Found {
                op: 4,
                vars: vec!["42".into(), "7".into()]
            }
        );
        // backtracking: literal `b` leads nowhere for /a/b/d
        assert_eq!(
            r.lookup("GET", "/a/b/d"),
            Lookup::Found {
                op: 6,
                vars: vec!["b".into()]
            }
        );
    }

    #[test]
    fn unknown_and_wrong_method() {
        let r = router();
        assert_eq!(r.lookup("DELETE", "/orders"), Lookup::MethodNotAllowed);
        assert_eq!(r.lookup("GET", "/nope"), Lookup::NotFound);
        assert_eq!(r.lookup("GET", "/orders/"), Lookup::NotFound);
        assert_eq!(r.lookup("GET", "/orders//items/1"), Lookup::NotFound);
        assert_eq!(r.lookup("GET", "orders"), Lookup::NotFound);
        assert_eq!(r.lookup("GET", &"/x".repeat(100)), Lookup::NotFound);
    }
}
