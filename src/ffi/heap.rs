//! Returns the heap's free pages to the system. Loading builds the tokenizer from copies of the
//! vocabulary (hundreds of thousands of small allocations) and frees them again; glibc keeps
//! those pages resident in its arenas until asked. glibc's own `malloc_trim`; no libc crate needed.

/// Releases the free memory of every malloc arena (a no-op outside glibc).
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::os::raw::c_int;
        }
        // SAFETY: malloc_trim takes no pointers and only walks the allocator's own free lists.
        unsafe {
            malloc_trim(0);
        }
    }
}
