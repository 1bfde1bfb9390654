//! Values with variables as the proxy directives take them (`proxy_set_header X-Real-IP
//! $remote_addr;`, `proxy_redirect http://$proxy_host/ /;`, `map $http_upgrade
//! $connection_upgrade { ... }`), and the `map` blocks that define variables of their own.
//!
//! The grammar is [`super::super::template::Template`]'s (`$name`, `${name}`, a `$` must start a known
//! name): every variable a template knows (`$host`, `$http_NAME`, `$remote_addr`, captures...),
//! plus the proxy's own `$proxy_host`, `$proxy_port`, `$proxy_add_x_forwarded_for`, and the
//! variables `map` blocks define. Values are parsed once here; `proxy::vars` expands them per
//! request.

use super::super::template::Variable;
use super::super::template::{Part, Template};

/// A variable a proxy value may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyVariable {
    /// One of the variables every template knows (`$host`, `$request_uri`, `$http_NAME`,
    /// `$remote_addr`...), answered by the handler.
    Common(Variable),
    /// `$proxy_host`: the host and port of `proxy_pass` (port left out when 80), the upstream
    /// name for an `upstream` group, `localhost` for a unix socket.
    ProxyHost,
    /// `$proxy_port`: the port of `proxy_pass` (`80` when not written), empty for a unix socket.
    ProxyPort,
    /// `$proxy_add_x_forwarded_for`: the request's X-Forwarded-For with `, $remote_addr`
    /// appended, or `$remote_addr` alone.
    ProxyAddXForwardedFor,
    /// A variable defined by the `map` at this index of `Config::maps`.
    Map(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValuePart {
    Text(String),
    Var(ProxyVariable),
}

/// A text in pieces: literal text and variables, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub parts: Vec<ValuePart>,
}

/// Why a text is not a valid value; `offset` is in characters from the start of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    pub offset: usize,
    pub message: String,
}

/// The names a value may use beyond the built-in variables: those `map` blocks define, and
/// the group names of the configuration's regular expressions (`$name` captures).
#[derive(Debug, Clone, Copy, Default)]
pub struct Names<'a> {
    pub maps: &'a [String],
    pub captures: &'a [String],
}

impl<'a> Names<'a> {
    /// The variables of `maps`, and no capture names.
    pub fn maps(maps: &'a [String]) -> Names<'a> {
        Names {
            maps,
            captures: &[],
        }
    }
}

impl ProxyVariable {
    /// The variable called `name` (without `$`).
    pub fn from_name(name: &str, names: Names) -> Option<ProxyVariable> {
        if let Some(i) = names.maps.iter().position(|m| m == name) {
            return Some(ProxyVariable::Map(i));
        }
        Some(match name {
            "proxy_host" => ProxyVariable::ProxyHost,
            "proxy_port" => ProxyVariable::ProxyPort,
            "proxy_add_x_forwarded_for" => ProxyVariable::ProxyAddXForwardedFor,
            _ => ProxyVariable::Common(Variable::from_name(name, names.captures)?),
        })
    }

    /// Whether `name` is a variable the server itself provides (a `map` may not redefine it).
    pub fn is_builtin(name: &str) -> bool {
        ProxyVariable::from_name(name, Names::default()).is_some()
    }
}

/// The proxy's own variables, besides those every template knows.
const OWN: [(&str, ProxyVariable); 3] = [
    ("proxy_host", ProxyVariable::ProxyHost),
    ("proxy_port", ProxyVariable::ProxyPort),
    (
        "proxy_add_x_forwarded_for",
        ProxyVariable::ProxyAddXForwardedFor,
    ),
];

impl Value {
    /// A text without variables.
    pub fn literal(text: &str) -> Value {
        Value {
            parts: vec![ValuePart::Text(text.to_string())],
        }
    }

    /// Parses `$name`, `${name}` and `$1`..`$9` as [`Template::parse`] does, with the proxy's
    /// own names and the maps' variables known too; every other character is literal.
    pub fn parse(text: &str, names: Names) -> Result<Value, ValueError> {
        // The template grammar takes the extra names as it takes capture names.
        let mut extra: Vec<String> = names.maps.to_vec();
        extra.extend(OWN.iter().map(|(n, _)| n.to_string()));
        extra.extend(names.captures.iter().cloned());
        let template = Template::parse(text, &extra).map_err(|e| ValueError {
            offset: e.offset,
            message: e.message,
        })?;
        let parts = template
            .into_parts()
            .into_iter()
            .map(|part| match part {
                Part::Text(text) => ValuePart::Text(text),
                Part::Var(Variable::NamedCapture(name)) => {
                    let own = names.maps.iter().position(|m| *m == name).map_or_else(
                        || OWN.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()),
                        |i| Some(ProxyVariable::Map(i)),
                    );
                    ValuePart::Var(
                        own.unwrap_or(ProxyVariable::Common(Variable::NamedCapture(name))),
                    )
                }
                Part::Var(v) => ValuePart::Var(ProxyVariable::Common(v)),
            })
            .collect();
        Ok(Value { parts })
    }

    pub fn has_variables(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, ValuePart::Var(_)))
    }

    /// No variables and no text: `proxy_set_header NAME "";` (the field is not sent).
    pub fn is_empty(&self) -> bool {
        self.parts
            .iter()
            .all(|p| matches!(p, ValuePart::Text(t) if t.is_empty()))
    }

    /// The maps this value names.
    pub fn maps(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            ValuePart::Var(ProxyVariable::Map(i)) => Some(*i),
            _ => None,
        })
    }
}

/// One `map SOURCE $NAME { KEY VALUE; ... default VALUE; }` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map {
    /// The variable it defines, without `$`.
    pub name: String,
    /// What is looked up (`$http_upgrade`).
    pub source: Value,
    /// (key, value), keys lower-cased: strings match ignoring case (nginx). In file order, no
    /// key twice.
    pub entries: Vec<(String, Value)>,
    /// The value when no key matches (empty when not given).
    pub default: Value,
}

impl Map {
    /// The value for the expanded source `key`.
    pub fn lookup(&self, key: &str) -> &Value {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map_or(&self.default, |(_, v)| v)
    }
}

/// The first map (by index) that depends on itself through its source or values, if any.
pub fn map_cycle(maps: &[Map]) -> Option<usize> {
    // Depth-first, with the path on a stack: at most maps.len() levels deep.
    fn visit(i: usize, maps: &[Map], state: &mut [u8]) -> bool {
        match state[i] {
            1 => return true,
            2 => return false,
            _ => {}
        }
        state[i] = 1;
        let map = &maps[i];
        let mut deps = map.source.maps().collect::<Vec<_>>();
        deps.extend(map.default.maps());
        for (_, v) in &map.entries {
            deps.extend(v.maps());
        }
        for d in deps {
            if d < maps.len() && visit(d, maps, state) {
                return true;
            }
        }
        state[i] = 2;
        false
    }
    let mut state = vec![0u8; maps.len()];
    (0..maps.len()).find(|&i| {
        state.iter_mut().for_each(|s| *s = 0);
        visit(i, maps, &mut state)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &Value) -> String {
        v.parts
            .iter()
            .map(|p| match p {
                ValuePart::Text(t) => t.clone(),
                ValuePart::Var(v) => format!("<{v:?}>"),
            })
            .collect()
    }

    #[test]
    fn proxy_variables_are_known_beside_the_common_ones_and_the_maps() {
        let maps = ["connection_upgrade".to_string()];
        let captures = ["version".to_string()];
        let names_in = Names {
            maps: &maps,
            captures: &captures,
        };
        let v = Value::parse(
            "$host|${http_x_forwarded_for}|$proxy_host:$proxy_port|$proxy_add_x_forwarded_for|\
             $remote_addr|$connection_upgrade|$1$version",
            names_in,
        )
        .unwrap();
        assert_eq!(
            names(&v),
            "<Common(Host)>|<Common(Header(\"x_forwarded_for\"))>|<ProxyHost>:<ProxyPort>|\
             <ProxyAddXForwardedFor>|<Common(RemoteAddr)>|<Map(0)>|<Common(Capture(1))>\
             <Common(NamedCapture(\"version\"))>"
        );
        assert!(v.has_variables());
        assert_eq!(v.maps().collect::<Vec<_>>(), vec![0]);
        // A map may shadow nothing the server provides, but the lookup order is maps first.
        let shadow = ["proxy_host".to_string()];
        assert_eq!(
            ProxyVariable::from_name("proxy_host", Names::maps(&shadow)),
            Some(ProxyVariable::Map(0))
        );
    }

    #[test]
    fn text_without_variables_is_one_literal_and_empty_text_is_empty() {
        let v = Value::parse("close", Names::default()).unwrap();
        assert_eq!(v, Value::literal("close"));
        assert!(!v.has_variables());
        assert!(Value::parse("", Names::default()).unwrap().is_empty());
        assert!(!v.is_empty());
    }

    #[test]
    fn bad_references_are_errors_at_the_dollar() {
        let cases = [
            ("$", 0, "invalid variable name"),
            ("a $ b", 2, "invalid variable name"),
            ("${http_x", 0, "the closing bracket in variable is missing"),
            ("x$http_", 1, "unknown \"http_\" variable"),
            ("é$upstream_addr", 1, "unknown \"upstream_addr\" variable"),
            (
                "$connection_upgrade",
                0,
                "unknown \"connection_upgrade\" variable",
            ),
        ];
        for (text, offset, message) in cases {
            assert_eq!(
                Value::parse(text, Names::default()),
                Err(ValueError {
                    offset,
                    message: message.to_string()
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn builtin_names_are_told_apart_from_new_ones() {
        for name in ["host", "http_upgrade", "remote_addr", "proxy_host", "uri"] {
            assert!(ProxyVariable::is_builtin(name), "{name}");
        }
        for name in ["connection_upgrade", "backend", "http"] {
            assert!(!ProxyVariable::is_builtin(name), "{name}");
        }
    }

    fn map(name: &str, source: &str, entries: &[(&str, &str)], names: &[String]) -> Map {
        Map {
            name: name.to_string(),
            source: Value::parse(source, Names::maps(names)).unwrap(),
            entries: entries
                .iter()
                .map(|(k, v)| (k.to_string(), Value::parse(v, Names::maps(names)).unwrap()))
                .collect(),
            default: Value::literal("upgrade"),
        }
    }

    #[test]
    fn map_keys_match_ignoring_case_and_fall_back_to_the_default() {
        let m = map("c", "$http_upgrade", &[("", "close"), ("h2c", "h2")], &[]);
        assert_eq!(m.lookup(""), &Value::literal("close"));
        assert_eq!(m.lookup("H2C"), &Value::literal("h2"));
        assert_eq!(m.lookup("websocket"), &Value::literal("upgrade"));
    }

    #[test]
    fn a_map_that_depends_on_itself_is_found() {
        let names = ["a".to_string(), "b".to_string(), "c".to_string()];
        let chain = [
            map("a", "$b", &[], &names),
            map("b", "$http_x", &[("x", "$c")], &names),
            map("c", "$host", &[], &names),
        ];
        assert_eq!(map_cycle(&chain), None);
        let cycle = [
            map("a", "$http_x", &[], &names),
            map("b", "$c", &[], &names),
            map("c", "$host", &[("k", "$b")], &names),
        ];
        assert_eq!(map_cycle(&cycle), Some(1));
        let own = [map("a", "$a", &[], &names)];
        assert_eq!(map_cycle(&own), Some(0));
    }
}
