//! Topics, payload types and codecs shared by the hub, firmware-sim and firmware writers.
//! Filled in by the devices issue; the crate exists so the workspace shape is final.
