//! The allocator of both Loam binaries: mimalloc, told to give freed pages back to the system
//! at once. With its default (a purge delay that only runs out when the freeing thread allocates
//! again) a burst of work — parallel logins hash with 19 MiB each, a raw year read, an export —
//! left the server at its peak size while idle; with immediate purging it returns near its idle
//! size within seconds (see the README's "Benchmarks", memory after the burst). It also replaces
//! `malloc` for the C libraries linked in (the `override` feature), so SQLite's memory follows
//! the same rules.

/// Linked into every binary that depends on this crate.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its position in `mi_option_t`, mimalloc v3 as bundled by
/// `libmimalloc-sys` 0.1.49); the bindings do not name it.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes freed memory go back to the system immediately. Call first thing in `main`, before
/// other threads start.
#[allow(unsafe_code)]
pub fn return_freed_memory_promptly() {
    // SAFETY: `mi_option_set` takes plain integers and is unsafe only because setting options
    // is not synchronised between threads; it runs before `main` starts any other thread.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) }
}

/// The purge delay in force, in milliseconds (0 once [`return_freed_memory_promptly`] ran).
#[allow(unsafe_code, clippy::useless_conversion)] // `c_long` is not `i64` everywhere
pub fn purge_delay_ms() -> i64 {
    // SAFETY: reading an option takes and returns plain integers.
    i64::from(unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_option_is_the_purge_delay_and_can_be_zeroed() {
        // mimalloc's default purge delay is 1000 ms (v3); a different number here means the
        // option's position changed with a new mimalloc and PURGE_DELAY must follow it.
        assert_eq!(super::purge_delay_ms(), 1000);
        super::return_freed_memory_promptly();
        assert_eq!(super::purge_delay_ms(), 0);
    }
}
