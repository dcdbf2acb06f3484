//! Image generators (owned by the testsupport task).
