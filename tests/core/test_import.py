import json
import subprocess
import sys
import time


def test_import_neuronkit_loads_no_framework():
    code = ("import sys, time, json; t = time.perf_counter(); import neuronkit; neuronkit.get_backends(); "
            "print(json.dumps([sorted(sys.modules), time.perf_counter() - t]))")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules, seconds = json.loads(done.stdout)
    heavy = {"torch", "tensorflow", "mxnet", "onnx", "onnxruntime", "openvino", "keras", "jax"}
    assert not heavy & {m.split(".")[0] for m in modules}
    print(f"import neuronkit + plugin discovery: {seconds:.3f} s (process {time.perf_counter() - start:.2f} s)")
