//! Simulated kitchen device fleet (probes, scanners, bump bars, call buttons) and MQTT load
//! generator. Filled in by the devices issue.

fn main() {
    println!("firmware-sim: the device fleet arrives with the devices issue");
}
