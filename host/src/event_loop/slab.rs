//! The table of one worker's connections: slots reused for new connections, and ids that
//! never are.
//!
//! An id is a slot index (low 32 bits, also the connection's mio token) and the slot's
//! generation (high 32 bits), bumped each time the slot is freed; a stale id therefore
//! finds nothing instead of somebody else's connection.

use crate::boundary::ConnId;

/// The slot an id names; the generation decides whether it still names its occupant.
pub fn slot_of(id: ConnId) -> usize {
    (id & 0xffff_ffff) as usize
}

/// A slab slot: the value, or free with the generation the next occupant gets.
enum Slot<T> {
    Used { id: ConnId, value: T },
    Free { generation: u32 },
}

/// Values by generational id.
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<usize>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    /// The id the next [`Slab::insert`] will return.
    pub fn next_id(&self) -> ConnId {
        let (index, generation) = match self.free.last() {
            Some(&index) => (index, self.generation(index)),
            None => (self.slots.len(), 0),
        };
        (u64::from(generation) << 32) | index as u64
    }

    /// Stores `value` under [`Slab::next_id`] and returns that id.
    pub fn insert(&mut self, value: T) -> ConnId {
        let id = self.next_id();
        let index = slot_of(id);
        if self.free.pop().is_none() {
            self.slots.push(Slot::Free { generation: 0 });
        }
        self.slots[index] = Slot::Used { id, value };
        id
    }

    /// Frees slot `index` and returns what it held.
    pub fn remove(&mut self, index: usize) -> Option<T> {
        let Some(Slot::Used { id, .. }) = self.slots.get(index) else {
            return None;
        };
        let next = Slot::Free {
            generation: ((*id >> 32) as u32).wrapping_add(1),
        };
        let Slot::Used { value, .. } = std::mem::replace(&mut self.slots[index], next) else {
            unreachable!("the slot was checked to be used");
        };
        self.free.push(index);
        Some(value)
    }

    /// The value with this id, unless the id is stale.
    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut T> {
        match self.slots.get_mut(slot_of(id)) {
            Some(Slot::Used { id: current, value }) if *current == id => Some(value),
            _ => None,
        }
    }

    /// The value in slot `index`, whatever its id.
    pub fn at(&self, index: usize) -> Option<&T> {
        match self.slots.get(index) {
            Some(Slot::Used { value, .. }) => Some(value),
            _ => None,
        }
    }

    /// The value in slot `index`, whatever its id.
    pub fn at_mut(&mut self, index: usize) -> Option<&mut T> {
        match self.slots.get_mut(index) {
            Some(Slot::Used { value, .. }) => Some(value),
            _ => None,
        }
    }

    /// How many values are stored.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One past the highest slot index in use so far.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn generation(&self, index: usize) -> u32 {
        match self.slots.get(index) {
            Some(Slot::Free { generation }) => *generation,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_slot_is_reused_under_a_new_id() {
        let mut slab = Slab::default();
        let first = slab.insert("a");
        let second = slab.insert("b");
        assert_eq!((slot_of(first), slot_of(second)), (0, 1));
        assert_eq!(slab.remove(slot_of(first)), Some("a"));
        let third = slab.insert("c");
        assert_eq!(slot_of(third), 0);
        assert_ne!(third, first);
        assert_eq!(slab.get_mut(first), None, "a stale id finds nothing");
        assert_eq!(slab.get_mut(third), Some(&mut "c"));
        assert_eq!(slab.len(), 2);
    }

    #[test]
    fn next_id_predicts_insert() {
        let mut slab = Slab::default();
        for round in 0..4 {
            let predicted = slab.next_id();
            assert_eq!(slab.insert(round), predicted);
            if round % 2 == 0 {
                slab.remove(slot_of(predicted));
            }
        }
        assert_eq!(slab.len(), 2);
        assert_eq!(slab.capacity(), 2);
    }

    #[test]
    fn removing_a_free_slot_does_nothing() {
        let mut slab: Slab<u8> = Slab::default();
        assert_eq!(slab.remove(3), None);
        let id = slab.insert(1);
        assert_eq!(slab.remove(slot_of(id)), Some(1));
        assert_eq!(slab.remove(slot_of(id)), None);
        assert!(slab.is_empty());
        assert_eq!(slab.at(0), None);
    }
}
