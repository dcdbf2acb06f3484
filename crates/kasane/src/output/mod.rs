//! Output formatting (owned by the output task).
