// StrataProto holds only code generated from Protos/strata/v1 by dev/generate-protos.sh
// (committed; `dev/generate-protos.sh --check` fails when it is stale). Do not edit the
// *.pb.swift and *.grpc.swift files by hand.
