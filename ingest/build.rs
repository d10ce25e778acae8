//! Compiles the ENTS `.proto` files into Rust types with a pure-Rust protobuf compiler (no
//! `protoc` on the build machine).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["sensor.proto", "soil_power_sensor.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
