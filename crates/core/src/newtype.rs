//! The trait implementations every validated text newtype shares.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

/// Implements `Display` (the text as is) and `FromStr` (through the type's `parse`) for text
/// newtypes with `as_str()` and `parse(&str) -> Result<Self, Error>`. With `debug:` first, also
/// `Debug` as `Name("text")`.
macro_rules! text_newtype {
    (debug: $($t:ident),+) => {
        $(
            impl core::fmt::Debug for $t {
                fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                    write!(f, concat!(stringify!($t), "({:?})"), self.as_str())
                }
            }
        )+
        text_newtype!($($t),+);
    };
    ($($t:ident),+) => {
        $(
            impl core::fmt::Display for $t {
                fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                    f.write_str(self.as_str())
                }
            }

            impl core::str::FromStr for $t {
                type Err = crate::error::Error;
                fn from_str(s: &str) -> Result<Self, Self::Err> {
                    Self::parse(s)
                }
            }
        )+
    };
}

pub(crate) use text_newtype;
