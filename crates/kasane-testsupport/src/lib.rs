//! Test support: generates images and layer tars for tests and benchmarks, so that no test
//! ever downloads an image. Depends on no kasane crate on purpose: the images it makes are an
//! independent witness of what kasane must accept.

pub mod hostile;
pub mod image;
