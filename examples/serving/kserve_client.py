"""Query `neuronkit serve` over KServe v2 with tritonclient, gRPC (port 8500) or REST (port 8501).

    pip install "tritonclient[http,grpc]"
    python examples/serving/kserve_client.py cat.npy --model resnet50
    python examples/serving/kserve_client.py cat.npy --model resnet50 --rest --server localhost:8501
"""

import argparse
import json

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="a .npy file holding the input batch")
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--server", default="localhost:8500")
    parser.add_argument("--rest", action="store_true", help="use the REST API (binary tensors) instead of gRPC")
    parser.add_argument("--json", action="store_true", help="print the top 5 as JSON")
    args = parser.parse_args()
    if args.rest:
        import tritonclient.http as client_lib
    else:
        import tritonclient.grpc as client_lib

    client = client_lib.InferenceServerClient(args.server)
    meta = client.get_model_metadata(args.model) if args.rest else client.get_model_metadata(args.model, as_json=True)
    input_meta, output_name = meta["inputs"][0], meta["outputs"][0]["name"]
    batch = np.load(args.input)
    tensor = client_lib.InferInput(input_meta["name"], list(batch.shape), input_meta["datatype"])
    tensor.set_data_from_numpy(batch)
    result = client.infer(args.model, [tensor])
    scores = result.as_numpy(output_name)[0]
    top5 = [int(i) for i in np.argsort(-scores)[:5]]
    if args.json:
        print(json.dumps({"top5": top5, "scores": scores.tolist()}))
    else:
        print(f"{args.model}: top-5 classes {top5}")


if __name__ == "__main__":
    main()
