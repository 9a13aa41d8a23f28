//! Graph's error body read from any serde format (JSON text, or a JavaScript object): keys
//! matched without case, `innerError` followed 16 levels deep, unknown keys and values of the
//! wrong type ignored rather than failing.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use core::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// How many `innerError` levels are read below `error`.
const MAX_INNER_LEVELS: usize = 16;

/// A Graph error body (`{"error": {"code", "message", "innerError": {…}}}`) as deserialized;
/// [`GraphError::from_body`](super::GraphError::from_body) makes the error from it.
///
/// Deserializing never fails on the shape of the data (with a self-describing format): a body
/// without an `error` object deserializes to one that yields the status's fallback code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphErrorBody {
    /// `error` and its `innerError`s, outermost first; empty when `error` is not an object.
    pub(super) levels: Vec<Level>,
}

/// The fields of one level (the `error` object or an `innerError`); at each, the first key wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Level {
    pub(super) code: Option<String>,
    pub(super) message: Option<String>,
    pub(super) request_id: Option<String>,
    pub(super) client_request_id: Option<String>,
    pub(super) date: Option<String>,
}

impl Level {
    fn slot(&mut self, key: Key) -> Option<&mut Option<String>> {
        match key {
            Key::Code => Some(&mut self.code),
            Key::Message => Some(&mut self.message),
            Key::RequestId => Some(&mut self.request_id),
            Key::ClientRequestId => Some(&mut self.client_request_id),
            Key::Date => Some(&mut self.date),
            _ => None,
        }
    }
}

/// Implements the visitor methods for every value that is not of the expected kind: it is
/// consumed and `$none` returned.
macro_rules! accept_any_other {
    ($none:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($none)
        }
    };
}

impl<'de> de::Deserialize<'de> for GraphErrorBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BodyVisitor)
    }
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = GraphErrorBody;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Graph error body")
    }

    accept_any_other!(GraphErrorBody::default());

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(GraphErrorBody::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut body = GraphErrorBody::default();
        let mut seen = false;
        while let Some(key) = map.next_key::<Key>()? {
            if key == Key::Error && !seen {
                seen = true;
                map.next_value_seed(LevelSeed { levels: &mut body.levels })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(body)
    }
}

/// Reads one level into `levels` (when it is an object) and the levels below it.
struct LevelSeed<'a> {
    levels: &'a mut Vec<Level>,
}

impl<'de> DeserializeSeed<'de> for LevelSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LevelSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Graph error object")
    }

    accept_any_other!(());

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let at = self.levels.len();
        self.levels.push(Level::default());
        let mut inner_seen = false;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::InnerError if !inner_seen && at < MAX_INNER_LEVELS => {
                    inner_seen = true;
                    map.next_value_seed(LevelSeed { levels: &mut *self.levels })?;
                }
                Key::Code | Key::Message | Key::RequestId | Key::ClientRequestId | Key::Date => {
                    let value = map.next_value::<Text>()?.0;
                    if let Some(slot) = self.levels.get_mut(at).and_then(|l| l.slot(key)).filter(|s| s.is_none()) {
                        *slot = value;
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A key of interest, matched without ASCII case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Error,
    Code,
    Message,
    InnerError,
    RequestId,
    ClientRequestId,
    Date,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    accept_any_other!(Key::Other);

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        const KEYS: [(&str, Key); 7] = [
            ("error", Key::Error),
            ("code", Key::Code),
            ("message", Key::Message),
            ("innerError", Key::InnerError),
            ("request-id", Key::RequestId),
            ("client-request-id", Key::ClientRequestId),
            ("date", Key::Date),
        ];
        Ok(KEYS.iter().find(|(name, _)| name.eq_ignore_ascii_case(v)).map_or(Key::Other, |&(_, key)| key))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Key::Other)
    }
}

/// A string value, or `None` for a value of any other type.
struct Text(Option<String>);

impl<'de> de::Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    accept_any_other!(Text(None));

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
        Ok(Text(Some(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
        Ok(Text(Some(v)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Text, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: serde_json::Value) -> GraphErrorBody {
        serde_json::from_value(value).expect("any JSON value deserializes")
    }

    fn level(code: &str) -> Level {
        Level { code: Some(code.into()), ..Level::default() }
    }

    #[test]
    fn keys_match_in_any_case_and_the_first_wins() {
        let b = body(json!({"ERROR": {"CoDe": "c", "Message": "m", "code": "second"}, "error": {"code": "x"}}));
        assert_eq!(b.levels, vec![Level { message: Some("m".into()), ..level("c") }]);
        let text = r#"{"error":{"code":"a","innererror":{"Request-ID":"r","CLIENT-REQUEST-ID":"c","DATE":"d"}}}"#;
        let b: GraphErrorBody = serde_json::from_str(text).expect("parse");
        let inner = Level {
            request_id: Some("r".into()),
            client_request_id: Some("c".into()),
            date: Some("d".into()),
            ..Level::default()
        };
        assert_eq!(b.levels, vec![level("a"), inner]);
    }

    #[test]
    fn inner_errors_nest_up_to_sixteen_levels() {
        let mut v = json!({"code": "deepest"});
        for n in (0..30).rev() {
            v = json!({"code": n.to_string(), "innerError": v});
        }
        let b = body(json!({"error": v}));
        assert_eq!(b.levels.len(), MAX_INNER_LEVELS + 1);
        assert_eq!(b.levels.last(), Some(&level("16")));
    }

    #[test]
    fn wrong_types_and_unknown_keys_are_ignored() {
        let b = body(json!({
            "error": {"code": 5, "message": ["m"], "innerError": "text", "details": [{"code": "d"}], "x": null},
            "other": {"error": {}}
        }));
        assert_eq!(b.levels, vec![Level::default()]);
        let b = body(json!({"error": {"code": {"nested": true}, "innerError": {"code": false, "request-id": 1.5}}}));
        assert_eq!(b.levels, vec![Level::default(), Level::default()]);
        let b = body(json!({"error": {"code": "c", "innerError": null}}));
        assert_eq!(b.levels, vec![level("c")]);
    }

    #[test]
    fn an_error_that_is_not_an_object_gives_no_levels() {
        for v in [json!({"error": "x"}), json!({"error": 1}), json!({"error": [{}]}), json!({"error": null})] {
            assert_eq!(body(v.clone()).levels, vec![], "{v}");
        }
        for v in [json!("text"), json!([1, 2]), json!(3), json!(null), json!(true), json!({})] {
            assert_eq!(body(v.clone()).levels, vec![], "{v}");
        }
    }
}
