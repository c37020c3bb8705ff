//! Permission letters: the `cruds` of a v2 scope and the v1 words that map onto them.

use std::fmt;

/// A set of SMART v2 permission letters (`c`, `r`, `u`, `d`, `s`).
///
/// ```
/// use fhir_scopes::Permissions;
///
/// let rs = Permissions::READ | Permissions::SEARCH;
/// assert_eq!(rs.to_string(), "rs");
/// assert!(Permissions::ALL.contains(rs));
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permissions(u8);

impl Permissions {
    /// No permission.
    pub const NONE: Permissions = Permissions(0);
    /// `c`: type-level create.
    pub const CREATE: Permissions = Permissions(1);
    /// `r`: instance read, vread and instance history.
    pub const READ: Permissions = Permissions(1 << 1);
    /// `u`: instance update (including update-as-create) and patch.
    pub const UPDATE: Permissions = Permissions(1 << 2);
    /// `d`: instance delete.
    pub const DELETE: Permissions = Permissions(1 << 3);
    /// `s`: type and system search, type and system history.
    pub const SEARCH: Permissions = Permissions(1 << 4);
    /// All five letters, `cruds`.
    pub const ALL: Permissions = Permissions(0b1_1111);

    /// The letters in the order SMART fixes, each with its flag.
    const LETTERS: [(u8, Permissions); 5] = [
        (b'c', Permissions::CREATE),
        (b'r', Permissions::READ),
        (b'u', Permissions::UPDATE),
        (b'd', Permissions::DELETE),
        (b's', Permissions::SEARCH),
    ];

    /// Whether every letter of `other` is in `self`.
    pub const fn contains(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no letter is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The letters in both sets.
    pub const fn intersection(self, other: Permissions) -> Permissions {
        Permissions(self.0 & other.0)
    }

    /// The letters of `self` that are not in `other`.
    pub const fn difference(self, other: Permissions) -> Permissions {
        Permissions(self.0 & !other.0)
    }

    /// Each single letter in `self`, in `cruds` order.
    pub fn letters(self) -> impl Iterator<Item = Permissions> {
        Self::LETTERS
            .into_iter()
            .map(|(_, flag)| flag)
            .filter(move |flag| self.contains(*flag))
    }

    /// Parses v2 letters: a non-empty, in-order subsequence of `cruds`. On failure returns the
    /// byte offset (within `text`) of the first letter that breaks the rule.
    pub(crate) fn parse_v2(text: &[u8]) -> Result<Permissions, usize> {
        if text.is_empty() {
            return Err(0);
        }
        let mut set = Permissions::NONE;
        let mut next = 0;
        for (offset, byte) in text.iter().enumerate() {
            let position = Self::LETTERS
                .iter()
                .skip(next)
                .position(|(letter, _)| letter == byte)
                .ok_or(offset)?;
            let index = next + position;
            if let Some((_, flag)) = Self::LETTERS.get(index) {
                set = set | *flag;
            }
            next = index + 1;
        }
        Ok(set)
    }
}

impl std::ops::BitOr for Permissions {
    type Output = Permissions;

    fn bitor(self, other: Permissions) -> Permissions {
        Permissions(self.0 | other.0)
    }
}

impl fmt::Display for Permissions {
    /// Writes the letters in `cruds` order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (letter, flag) in Self::LETTERS {
            if self.contains(flag) {
                write!(f, "{}", char::from(letter))?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permissions({self})")
    }
}

/// How a resource scope wrote its permissions: v2 letters, or one of the three v1 words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Syntax {
    /// SMART v2 letters, such as `.rs`.
    V2,
    /// SMART v1 `.read`, meaning `rs`.
    V1Read,
    /// SMART v1 `.write`, meaning `cud`.
    V1Write,
    /// SMART v1 `.*`, meaning `cruds`.
    V1All,
}

impl Syntax {
    /// Whether this is one of the v1 words.
    pub fn is_v1(self) -> bool {
        self != Syntax::V2
    }

    /// The v1 word for exactly these permissions, if there is one.
    pub(crate) fn v1_for(permissions: Permissions) -> Option<Syntax> {
        [Syntax::V1Read, Syntax::V1Write, Syntax::V1All]
            .into_iter()
            .find(|syntax| syntax.v1_permissions() == Some(permissions))
    }

    /// What a v1 word means in v2 letters.
    pub(crate) fn v1_permissions(self) -> Option<Permissions> {
        match self {
            Syntax::V2 => None,
            Syntax::V1Read => Some(Permissions::READ | Permissions::SEARCH),
            Syntax::V1Write => {
                Some(Permissions::CREATE | Permissions::UPDATE | Permissions::DELETE)
            }
            Syntax::V1All => Some(Permissions::ALL),
        }
    }

    pub(crate) fn v1_word(self) -> Option<&'static str> {
        match self {
            Syntax::V2 => None,
            Syntax::V1Read => Some("read"),
            Syntax::V1Write => Some("write"),
            Syntax::V1All => Some("*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_letters_must_be_an_in_order_subsequence() {
        assert_eq!(Permissions::parse_v2(b"cruds"), Ok(Permissions::ALL));
        assert_eq!(
            Permissions::parse_v2(b"rs"),
            Ok(Permissions::READ | Permissions::SEARCH)
        );
        assert_eq!(Permissions::parse_v2(b"s"), Ok(Permissions::SEARCH));
        assert_eq!(Permissions::parse_v2(b""), Err(0));
        assert_eq!(Permissions::parse_v2(b"dus"), Err(1));
        assert_eq!(Permissions::parse_v2(b"rr"), Err(1));
        assert_eq!(Permissions::parse_v2(b"sr"), Err(1));
        assert_eq!(Permissions::parse_v2(b"rx"), Err(1));
        assert_eq!(Permissions::parse_v2(b"read"), Err(1));
    }

    #[test]
    fn display_is_cruds_order() {
        let set = Permissions::SEARCH | Permissions::CREATE | Permissions::DELETE;
        assert_eq!(set.to_string(), "cds");
        assert_eq!(set.letters().count(), 3);
        assert_eq!(Permissions::NONE.to_string(), "");
    }

    #[test]
    fn v1_words_map_to_v2() {
        assert_eq!(Syntax::V1Read.v1_permissions().unwrap().to_string(), "rs");
        assert_eq!(Syntax::V1Write.v1_permissions().unwrap().to_string(), "cud");
        assert_eq!(Syntax::V1All.v1_permissions().unwrap().to_string(), "cruds");
        assert_eq!(Syntax::v1_for(Permissions::ALL), Some(Syntax::V1All));
        assert_eq!(Syntax::v1_for(Permissions::READ), None);
    }
}
