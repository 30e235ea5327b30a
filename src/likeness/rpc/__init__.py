"""The gRPC API (ProcessPhoto, Health). The package is `rpc`, not `grpc`, so that it can
never be mistaken for the grpcio package it imports."""
