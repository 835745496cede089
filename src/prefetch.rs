//! A hint to the CPU to start loading a cache line that will be needed
//! soon: the platform part of the read path's cache-miss work.

/// Starts loading the cache line at `ptr` into the caches, without waiting
/// for it and without any effect on the program's state. A no-op where no
/// prefetch instruction is known.
#[inline(always)]
pub(crate) fn prefetch_read<T: ?Sized>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        #[allow(unsafe_code)]
        // SAFETY: PREFETCHT0 is a hint: it performs no architectural memory
        // access, cannot fault (not even on an invalid address) and changes
        // no state the program can observe. SSE, which it needs, is part
        // of the x86_64 baseline, so the instruction always exists.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(ptr.cast::<i8>())
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

#[cfg(test)]
mod tests {
    use super::prefetch_read;

    #[test]
    fn prefetching_changes_nothing_even_for_a_dangling_address() {
        let data = vec![7u8; 4096];
        prefetch_read(data.as_ptr());
        prefetch_read(&data[4000]);
        let dangling = {
            let freed: Box<[u64]> = vec![1u64; 8].into_boxed_slice();
            freed.as_ptr()
        };
        prefetch_read(dangling);
        prefetch_read(std::ptr::null::<u8>());
        assert!(data.iter().all(|&b| b == 7));
    }
}
