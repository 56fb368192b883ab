"""The pytest plugin neuronkit installs (neuronkit.testing.pytest_plugin), as a plugin's test suite sees it."""

pytest_plugins = ("pytester",)


def test_a_test_that_leaks_a_variable_neuronkit_sets_fails_and_the_variable_is_restored(pytester, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("NEURON_RT_VISIBLE_CORES", raising=False)
    pytester.makepyfile("""
        import os

        def test_leaks_threads():
            os.environ["OMP_NUM_THREADS"] = "3"

        def test_leaks_cores():
            os.environ["NEURON_RT_VISIBLE_CORES"] = "0-1"

        def test_restores_with_monkeypatch(monkeypatch):
            monkeypatch.setenv("OMP_NUM_THREADS", "3")

        def test_restores_with_clean_neuron_env(clean_neuron_env):
            os.environ["NEURON_RT_VISIBLE_CORES"] = "0-1"

        def test_sees_nothing_leaked():
            assert "OMP_NUM_THREADS" not in os.environ and "NEURON_RT_VISIBLE_CORES" not in os.environ
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, errors=2)  # the leaking tests pass, then fail at teardown
    result.stdout.fnmatch_lines(["*test_leaks_threads left OMP_NUM_THREADS changed*",
                                 "*test_leaks_cores left NEURON_RT_VISIBLE_CORES changed*"])
