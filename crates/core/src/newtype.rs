//! The trait implementations every validated text newtype shares.

/// Implements `Display` (the text as is) and `FromStr` (through the type's `parse`) for text
/// newtypes with `as_str()` and `parse(&str) -> Result<Self, Error>`. With `debug:` first, also
/// `Debug` as `Name("text")`.
macro_rules! text_newtype {
    (debug: $($t:ident),+) => {
        $(
            impl std::fmt::Debug for $t {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    write!(f, concat!(stringify!($t), "({:?})"), self.as_str())
                }
            }
        )+
        text_newtype!($($t),+);
    };
    ($($t:ident),+) => {
        $(
            impl std::fmt::Display for $t {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str(self.as_str())
                }
            }

            impl std::str::FromStr for $t {
                type Err = crate::error::Error;
                fn from_str(s: &str) -> Result<Self, Self::Err> {
                    Self::parse(s)
                }
            }
        )+
    };
}

pub(crate) use text_newtype;
