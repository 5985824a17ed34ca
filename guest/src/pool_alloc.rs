//! The guest's memory allocator: free lists per size class for small blocks, the standard
//! allocator (dlmalloc on `wasm32`) for the rest.
//!
//! A request allocates a few dozen small blocks (header names and values, the path, the
//! response) and frees them when answered. dlmalloc's bins, chunk headers and coalescing
//! took about a tenth of a keep-alive worker's time; a small block here costs a pop or a push
//! on a list. Small blocks are carved from slabs and go back to their class's list, never to
//! dlmalloc: memory a burst used stays ready for the next one (a WebAssembly memory never
//! shrinks anyway).
//!
//! It is installed only in `wasm32` builds without threads (every guest component; the
//! `pool-alloc` feature, on by default, lets a program bring its own allocator instead). The
//! native unit tests exercise the same code through [`Pools`] directly.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr::{self, NonNull};

/// Size classes are multiples of this; it is also the alignment every small block has.
const GRANULE: usize = 16;
/// Blocks up to `GRANULE * CLASSES` bytes (1 KiB) come from the pools.
const CLASSES: usize = 64;
/// Bytes asked of the standard allocator to refill an empty class.
const SLAB: usize = 16 * 1024;

/// The size class of `layout`, if it is small enough for the pools.
fn class_of(layout: Layout) -> Option<usize> {
    let size = layout.size();
    (layout.align() <= GRANULE && size > 0 && size <= GRANULE * CLASSES)
        .then(|| (size - 1) / GRANULE)
}

/// The block size of `class`.
fn block_size(class: usize) -> usize {
    (class + 1) * GRANULE
}

/// The free lists, one per size class: each free block holds the address of the next.
pub struct Pools {
    heads: [*mut u8; CLASSES],
}

impl Pools {
    /// Empty lists.
    pub const fn new() -> Self {
        Self {
            heads: [ptr::null_mut(); CLASSES],
        }
    }

    /// A block for `layout`, or null when the standard allocator is out of memory.
    ///
    /// # Safety
    /// As [`GlobalAlloc::alloc`]; `self` is used from one thread only.
    pub unsafe fn alloc(&mut self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            // SAFETY: the caller's contract is GlobalAlloc's.
            return unsafe { System.alloc(layout) };
        };
        let Some(head) = self.heads.get_mut(class) else {
            return ptr::null_mut();
        };
        if head.is_null() {
            // SAFETY: `SLAB` is a non-zero multiple of `GRANULE`, a power of two.
            let slab = unsafe { System.alloc(Layout::from_size_align_unchecked(SLAB, GRANULE)) };
            if slab.is_null() {
                return ptr::null_mut();
            }
            let size = block_size(class);
            let count = SLAB / size;
            // Thread the slab's blocks into the (empty) list, first block first.
            for index in (0..count).rev() {
                // SAFETY: `index * size + size <= SLAB`: every block lies inside the slab,
                // aligned to GRANULE, and is large enough for a pointer.
                unsafe {
                    let block = slab.add(index * size);
                    block.cast::<*mut u8>().write(*head);
                    *head = block;
                }
            }
        }
        let block = *head;
        // SAFETY: `block` is a free block of this class; its first word links the list.
        *head = unsafe { block.cast::<*mut u8>().read() };
        block
    }

    /// Returns a block.
    ///
    /// # Safety
    /// As [`GlobalAlloc::dealloc`]; `self` is used from one thread only.
    pub unsafe fn dealloc(&mut self, block: *mut u8, layout: Layout) {
        match class_of(layout).and_then(|class| self.heads.get_mut(class)) {
            Some(head) => {
                // SAFETY: the block came from this class (same layout) and is free now.
                unsafe { block.cast::<*mut u8>().write(*head) };
                *head = block;
            }
            // SAFETY: a large block came from the standard allocator with this layout.
            None => unsafe { System.dealloc(block, layout) },
        }
    }

    /// Resizes a block, in place when the size class stays the same.
    ///
    /// # Safety
    /// As [`GlobalAlloc::realloc`]; `self` is used from one thread only.
    pub unsafe fn realloc(&mut self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc::realloc's contract makes this layout valid.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class_of(layout), class_of(new_layout)) {
            (Some(old), Some(new)) if old == new => block,
            // SAFETY: both large: the standard allocator owns the block.
            (None, None) => unsafe { System.realloc(block, layout, new_size) },
            _ => {
                // SAFETY: a fresh block of the new layout; the old one holds `layout.size()`
                // initialised bytes and is freed once they are copied.
                unsafe {
                    let moved = self.alloc(new_layout);
                    if let Some(moved) = NonNull::new(moved) {
                        ptr::copy_nonoverlapping(
                            block,
                            moved.as_ptr(),
                            layout.size().min(new_size),
                        );
                        self.dealloc(block, layout);
                    }
                    moved
                }
            }
        }
    }
}

impl Default for Pools {
    fn default() -> Self {
        Self::new()
    }
}

/// [`Pools`] as the global allocator of a single-threaded guest.
pub struct PoolAlloc(UnsafeCell<Pools>);

impl PoolAlloc {
    /// The allocator, with empty pools.
    pub const fn new() -> Self {
        Self(UnsafeCell::new(Pools::new()))
    }
}

impl Default for PoolAlloc {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: only on `wasm32` without the `atomics` feature, where a program has a single
// thread: no two calls ever overlap (elsewhere `PoolAlloc` is not `Sync`, so it cannot be a
// global allocator shared by threads). Allocation never re-enters itself (the standard
// allocator it calls does not allocate through the global allocator).
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl Sync for PoolAlloc {}

// SAFETY: every method forwards to `Pools`, whose contracts are GlobalAlloc's, and is the only
// user of the cell on the single thread.
unsafe impl GlobalAlloc for PoolAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe { (*self.0.get()).alloc(layout) }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: see the impl.
        unsafe { (*self.0.get()).dealloc(block, layout) }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe { (*self.0.get()).realloc(block, layout, new_size) }
    }
}

#[cfg(all(
    feature = "pool-alloc",
    target_arch = "wasm32",
    not(target_feature = "atomics")
))]
#[global_allocator]
static GLOBAL: PoolAlloc = PoolAlloc::new();

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).expect("a valid layout")
    }

    #[test]
    fn small_blocks_are_reused_per_class_and_large_ones_pass_through() {
        let mut pools = Pools::new();
        unsafe {
            let a = pools.alloc(layout(24, 8));
            let b = pools.alloc(layout(30, 8));
            assert!(!a.is_null() && !b.is_null() && a != b);
            assert_eq!(a as usize % GRANULE, 0);
            a.write_bytes(0xAA, 24);
            b.write_bytes(0xBB, 30);
            assert_eq!(*b.add(29), 0xBB, "blocks of one class do not overlap");
            pools.dealloc(a, layout(24, 8));
            assert_eq!(pools.alloc(layout(17, 1)), a, "freed last, reused first");
            let big = pools.alloc(layout(4096, 8));
            assert!(!big.is_null());
            big.write_bytes(1, 4096);
            pools.dealloc(big, layout(4096, 8));
            let aligned = pools.alloc(layout(64, 64));
            assert_eq!(
                aligned as usize % 64,
                0,
                "over-aligned layouts pass through"
            );
            pools.dealloc(aligned, layout(64, 64));
        }
    }

    #[test]
    fn realloc_keeps_the_bytes_across_classes_and_into_large_blocks() {
        let mut pools = Pools::new();
        unsafe {
            let mut block = pools.alloc(layout(8, 1));
            for i in 0..8 {
                block.add(i).write(i as u8);
            }
            let mut size = 8;
            for new_size in [12, 40, 500, 1100, 5000, 100] {
                block = pools.realloc(block, layout(size, 1), new_size);
                assert!(!block.is_null());
                for i in 0..8 {
                    assert_eq!(block.add(i).read(), i as u8, "after growing to {new_size}");
                }
                for i in 8..new_size {
                    block.add(i).write(0);
                }
                size = new_size;
            }
            pools.dealloc(block, layout(size, 1));
        }
    }

    #[test]
    fn a_slab_serves_many_blocks_without_overlap() {
        let mut pools = Pools::new();
        let size = 48;
        let blocks: Vec<*mut u8> = (0..1000)
            .map(|i| unsafe {
                let block = pools.alloc(layout(size, 8));
                block.write_bytes(i as u8, size);
                block
            })
            .collect();
        for (i, block) in blocks.iter().enumerate() {
            let bytes = unsafe { std::slice::from_raw_parts(*block, size) };
            assert!(
                bytes.iter().all(|&b| b == i as u8),
                "block {i} was overwritten"
            );
        }
        for block in blocks {
            unsafe { pools.dealloc(block, layout(size, 8)) };
        }
    }
}
