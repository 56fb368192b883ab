"""Query `neuronkit serve` with the stock TensorFlow Serving gRPC client, as the seed workflow does.

    pip install tensorflow-cpu && pip install --no-deps tensorflow-serving-api
    python examples/serving/tfserving_client.py cat.npy --model resnet50     # server on localhost:8500

The input is a preprocessed image batch saved with numpy (``neuronkit predict ART cat.png -o``
saves the output; ``examples/serving/preprocess.py`` writes the input). The input name comes from
the server's signature (GetModelMetadata), as a client that does not know the model would do.
"""

import argparse
import json

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="a .npy file holding the input batch")
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--server", default="localhost:8500")
    parser.add_argument("--json", action="store_true", help="print the top 5 as JSON")
    args = parser.parse_args()

    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(args.server))
    meta_request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    meta_request.model_spec.name = args.model
    signatures = get_model_metadata_pb2.SignatureDefMap()
    stub.GetModelMetadata(meta_request, timeout=30).metadata["signature_def"].Unpack(signatures)
    signature = signatures.signature_def["serving_default"]
    input_name, output_name = next(iter(signature.inputs)), next(iter(signature.outputs))

    batch = np.load(args.input)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = args.model
    request.model_spec.signature_name = "serving_default"
    request.inputs[input_name].CopyFrom(tf.make_tensor_proto(batch, shape=batch.shape))
    result = stub.Predict(request, timeout=60)
    scores = tf.make_ndarray(result.outputs[output_name])[0]
    top5 = [int(i) for i in np.argsort(-scores)[:5]]
    if args.json:
        print(json.dumps({"version": result.model_spec.version.value, "top5": top5, "scores": scores.tolist()}))
    else:
        print(f"{args.model} version {result.model_spec.version.value}: top-5 classes {top5}")


if __name__ == "__main__":
    main()
