//! TODO(helper): see the kasane-oci task.
