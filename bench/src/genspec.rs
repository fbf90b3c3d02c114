//! Generates a large multi-file OpenAPI spec: `ops` operations spread over
//! path files, each with a request body whose schema is a `$ref` chain
//! `depth` long that hops between schema files.

use std::fmt::Write as _;
use std::path::Path;

pub fn generate(dir: &Path, ops: usize, depth: usize, files: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.join("schemas"))?;
    let mut root =
        String::from("openapi: 3.1.0\ninfo: { title: generated, version: '1' }\npaths:\n");
    for i in 0..ops {
        let resource = i / 4;
        let (method, path) = match i % 4 {
            0 => ("get", format!("/r{resource}/items")),
            1 => ("post", format!("/r{resource}/items")),
            2 => ("get", format!("/r{resource}/items/{{id}}")),
            _ => ("put", format!("/r{resource}/items/{{id}}")),
        };
        if i % 4 == 0 || i % 4 == 2 {
            let _ = writeln!(root, "  {path}:");
        }
        let _ = writeln!(root, "    {method}:\n      operationId: op{i}");
        if path.contains("{id}") {
            let _ = writeln!(root, "      parameters:\n        - {{ name: id, in: path, required: true, schema: {{ type: integer, minimum: 1 }} }}");
        }
        if method == "post" || method == "put" {
            let file = i % files;
            let _ = writeln!(
                root,
                "      requestBody:\n        required: true\n        content:\n          application/json:\n            schema: {{ $ref: 'schemas/s{file}.yaml#/L0' }}"
            );
        }
        let _ = writeln!(
            root,
            "      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {{ $ref: 'schemas/s{}.yaml#/L0' }}",
            (i + 1) % files
        );
    }
    std::fs::write(dir.join("openapi.yaml"), root)?;
    // Each schema file: L0 -> L1 -> ... -> L{depth-1}, every level in the next file.
    for f in 0..files {
        let mut s = String::new();
        for level in 0..depth {
            let next_file = (f + 1) % files;
            if level + 1 < depth {
                let _ = writeln!(
                    s,
                    "L{level}:\n  type: object\n  required: [name]\n  properties:\n    name: {{ type: string, maxLength: 64 }}\n    count: {{ type: integer, minimum: 0 }}\n    child: {{ $ref: 's{next_file}.yaml#/L{}' }}",
                    level + 1
                );
            } else {
                let _ = writeln!(
                    s,
                    "L{level}:\n  type: object\n  properties:\n    leaf: {{ type: boolean }}"
                );
            }
        }
        std::fs::write(dir.join(format!("schemas/s{f}.yaml")), s)?;
    }
    Ok(())
}
