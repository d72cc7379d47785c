//! Just enough DER to read PKCS#12, PKCS#8 and X.509, and to write PKCS#12:
//! definite lengths only, every read bounded by its input.

/// A parse failure; says what was expected, never the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub &'static str);

pub type Result<T> = std::result::Result<T, Error>;

pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;
/// `[0]` constructed, as PKCS#7 and PKCS#12 wrap their contents.
pub const CONTEXT_0: u8 = 0xa0;

/// rsaEncryption and id-ecPublicKey, DER contents.
pub const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
pub const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// One element: its tag, its contents, and the whole encoding.
#[derive(Debug, Clone, Copy)]
pub struct Element<'a> {
    pub tag: u8,
    pub contents: &'a [u8],
    pub encoded: &'a [u8],
}

impl<'a> Element<'a> {
    /// The contents, if the tag is `tag`.
    pub fn expect(&self, tag: u8, what: &'static str) -> Result<&'a [u8]> {
        if self.tag == tag {
            Ok(self.contents)
        } else {
            Err(Error(what))
        }
    }
}

/// Reads elements one after another from a byte slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(input: &'a [u8]) -> Reader<'a> {
        Reader { rest: input }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next element, whatever its tag.
    pub fn element(&mut self) -> Result<Element<'a>> {
        let bad = Error("truncated or malformed DER");
        let (&tag, after_tag) = self.rest.split_first().ok_or(bad.clone())?;
        if tag & 0x1f == 0x1f {
            return Err(Error("a multi-byte DER tag"));
        }
        let (&first, mut after) = after_tag.split_first().ok_or(bad.clone())?;
        let len = match first {
            n if n < 0x80 => usize::from(n),
            0x81..=0x84 => {
                let n = usize::from(first & 0x7f);
                if after.len() < n {
                    return Err(bad);
                }
                let len = after[..n].iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
                after = &after[n..];
                len
            }
            _ => return Err(Error("an indefinite or oversized DER length")),
        };
        if after.len() < len {
            return Err(bad);
        }
        let header = self.rest.len() - after.len();
        let encoded = &self.rest[..header + len];
        self.rest = &after[len..];
        Ok(Element { tag, contents: &after[..len], encoded })
    }

    /// The next element's contents, which must have tag `tag`.
    pub fn read(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8]> {
        self.element()?.expect(tag, what)
    }

    /// The next element, if it has tag `tag`; otherwise nothing is consumed.
    pub fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>> {
        match self.rest.first() {
            Some(&t) if t == tag => self.element().map(|e| Some(e.contents)),
            _ => Ok(None),
        }
    }

    /// A SEQUENCE's contents, as a reader.
    pub fn sequence(&mut self, what: &'static str) -> Result<Reader<'a>> {
        self.read(SEQUENCE, what).map(Reader::new)
    }

    /// A small non-negative INTEGER (an iteration count, a version).
    pub fn small_uint(&mut self, what: &'static str) -> Result<u32> {
        let bytes = self.read(INTEGER, what)?;
        let bytes = match bytes {
            [0, rest @ ..] => rest,
            [b, ..] if b & 0x80 != 0 => return Err(Error(what)),
            _ => bytes,
        };
        if bytes.len() > 4 {
            return Err(Error(what));
        }
        Ok(bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
    }
}

/// `tag` with `contents`, DER-encoded.
pub fn encode(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(contents.len() + 6);
    out.push(tag);
    match contents.len() {
        n if n < 0x80 => out.push(n as u8),
        n => {
            let bytes = n.to_be_bytes();
            let skip = bytes.iter().take_while(|&&b| b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    out.extend_from_slice(contents);
    out
}

/// A SEQUENCE (or SET, or `[0]`) of already-encoded elements.
pub fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    encode(tag, &parts.concat())
}

/// A non-negative INTEGER.
pub fn uint(n: u32) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(3);
    let mut contents = bytes[skip..].to_vec();
    if contents[0] & 0x80 != 0 {
        contents.insert(0, 0);
    }
    encode(INTEGER, &contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_bounds() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let encoded = encode(OCTET_STRING, &vec![7; len]);
            let mut r = Reader::new(&encoded);
            let e = r.element().unwrap();
            assert_eq!((e.tag, e.contents.len(), e.encoded.len()), (OCTET_STRING, len, encoded.len()));
            assert!(r.is_empty());
            assert!(Reader::new(&encoded[..encoded.len() - 1]).element().is_err(), "truncated by one");
        }
        for n in [0u32, 1, 127, 128, 255, 2048, u32::MAX] {
            assert_eq!(Reader::new(&uint(n)).small_uint("n").unwrap(), n);
        }
        assert!(Reader::new(&[0x30, 0x80, 0, 0]).element().is_err(), "indefinite length");
        assert!(Reader::new(&[0x30, 0x85, 1, 0, 0, 0, 0]).element().is_err(), "a length past 4 bytes");
        assert!(Reader::new(&[0x02, 0x01, 0xff]).small_uint("n").is_err(), "negative");
    }
}
