//! Hostile layer tars (owned by the snapshot task).
