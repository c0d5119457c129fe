//! `text_enum!`: a Rust enum stored in a `text` column (kept honest by the column's CHECK),
//! mapped in Diesel so row structs hold the enum and queries compare against it, never
//! against a string.
//!
//! ```text
//! crate::text_enum! {
//!     /// Where an import is.
//!     pub enum ImportStatus {
//!         Uploading => "uploading",
//!         Done => "done",
//!     }
//! }
//! ```
//!
//! generates the enum (`Debug, Clone, Copy, PartialEq, Eq, Hash`), `ALL` (in declaration
//! order), `as_str`, `parse` (`Option`), `FromStr` (error [`UnknownValue`]), `Display` (the
//! stored text), and Diesel's `AsExpression<Text>`/`FromSqlRow` with `ToSql`/`FromSql` for
//! PostgreSQL `Text`: reading a value the enum does not know is an error, not a default.

use std::fmt;

/// A stored or submitted text that names none of an enum's values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownValue {
    /// The enum's name, e.g. `ImportStatus`.
    pub type_name: &'static str,
    pub value: String,
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a known {}", self.value, self.type_name)
    }
}

impl std::error::Error for UnknownValue {}

#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ::diesel::AsExpression, ::diesel::FromSqlRow)]
        #[diesel(sql_type = ::diesel::sql_types::Text)]
        $vis enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];

            /// The text stored in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            /// The value stored as `text`, if there is one.
            pub fn parse(text: &str) -> ::std::option::Option<$name> {
                match text {
                    $( $text => ::std::option::Option::Some($name::$variant), )+
                    _ => ::std::option::Option::None,
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::db::text_enum::UnknownValue;

            fn from_str(text: &str) -> ::std::result::Result<$name, Self::Err> {
                $name::parse(text).ok_or_else(|| $crate::db::text_enum::UnknownValue {
                    type_name: stringify!($name),
                    value: text.to_string(),
                })
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::diesel::serialize::ToSql<::diesel::sql_types::Text, ::diesel::pg::Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut ::diesel::serialize::Output<'b, '_, ::diesel::pg::Pg>) -> ::diesel::serialize::Result {
                ::std::io::Write::write_all(out, self.as_str().as_bytes())?;
                ::std::result::Result::Ok(::diesel::serialize::IsNull::No)
            }
        }

        impl ::diesel::deserialize::FromSql<::diesel::sql_types::Text, ::diesel::pg::Pg> for $name {
            fn from_sql(bytes: ::diesel::pg::PgValue<'_>) -> ::diesel::deserialize::Result<$name> {
                let text = ::std::str::from_utf8(bytes.as_bytes())?;
                ::std::result::Result::Ok(text.parse::<$name>()?)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use super::UnknownValue;

    crate::text_enum! {
        /// A test enum, including the empty text as a value.
        pub enum Light {
            /// Stored as the empty string.
            Off => "",
            Red => "red",
            Green => "green",
        }
    }

    diesel::table! {
        lights (id) {
            id -> Int8,
            light -> Text,
        }
    }

    #[test]
    fn every_value_round_trips_through_its_text() {
        assert_eq!(Light::ALL, [Light::Off, Light::Red, Light::Green]);
        assert_eq!(Light::ALL.map(Light::as_str), ["", "red", "green"]);
        for light in Light::ALL {
            assert_eq!(Light::parse(light.as_str()), Some(light), "{light:?}");
            assert_eq!(light.as_str().parse::<Light>(), Ok(light), "{light:?}");
            assert_eq!(light.to_string(), light.as_str(), "{light:?}");
        }
    }

    #[test]
    fn unknown_text_is_refused_with_the_enum_named() {
        assert_eq!(Light::parse("Red"), None, "case matters: the CHECK constraint is case-sensitive");
        assert_eq!(Light::parse(" red"), None);
        let err = "amber".parse::<Light>().unwrap_err();
        assert_eq!(err, UnknownValue { type_name: "Light", value: "amber".into() });
        assert_eq!(err.to_string(), "\"amber\" is not a known Light");
    }

    #[test]
    fn queries_bind_the_enum_as_text() {
        let query = lights::table.filter(lights::light.eq(Light::Red)).filter(lights::light.ne(Light::Off)).select(lights::id);
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(&query).to_string();
        assert!(sql.contains(r#""lights"."light" = $1"#) && sql.contains(r#""lights"."light" != $2"#), "{sql}");
        assert!(sql.contains("binds: [Red, Off]"), "{sql}");
    }
}
