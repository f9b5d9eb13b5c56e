//! Compiles `herald/v1/*.proto` with protox, so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "herald/v1/event.proto",
        "herald/v1/endpoint.proto",
        "herald/v1/delivery.proto",
        "herald/v1/query.proto",
        "herald/v1/listen.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["."])?;
    prost_build::Config::new()
        .bytes(["."])
        .compile_fds(descriptors)?;
    Ok(())
}
