{
  description = "mx-aggregation: MX aggregation rules, client, sandbox and worker on Effect";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.11";
    flake-utils.url = "github:numtide/flake-utils";
  };

  outputs = { self, nixpkgs, flake-utils }:
    flake-utils.lib.eachDefaultSystem (system:
      let
        pkgs = import nixpkgs { inherit system; };
      in
      {
        # Node 22 LTS, and python3 with a C toolchain for node-gyp (better-sqlite3 builds from source).
        devShells.default = pkgs.mkShell {
          packages = [
            pkgs.nodejs_22
            pkgs.python3
            pkgs.gcc
            pkgs.gnumake
            pkgs.pkg-config
          ];
        };

        formatter = pkgs.nixpkgs-fmt;
      });
}
