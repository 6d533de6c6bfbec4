//! Where a chat template renders to: a buffer that refuses to grow past a cap, so a template
//! that prints gigabytes fails after the cap instead of allocating them.

use std::io;

pub struct BoundedOutput {
    buf: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

impl BoundedOutput {
    pub fn new(cap: usize) -> BoundedOutput {
        BoundedOutput { buf: Vec::new(), cap, overflowed: false }
    }

    /// Whether a write was refused for the cap (rendering then fails with a write error).
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// The text; minijinja writes only whole `str`s, so it is UTF-8.
    pub fn into_string(self) -> Result<String, String> {
        String::from_utf8(self.buf).map_err(|e| format!("the template wrote invalid UTF-8: {e}"))
    }
}

impl io::Write for BoundedOutput {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > self.cap {
            self.overflowed = true;
            return Err(io::Error::other("the rendered prompt is over its cap"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
