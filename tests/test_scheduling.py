"""The grouping of test files between pytest-xdist's workers (tests/conftest.py):
every test that uses the dask cluster (or may: ``dask_scheduler``) is in a
file of ``CLUSTER_FILES``, and those files are one unit of work, so that one
worker starts one cluster."""

import conftest


def test_every_test_using_the_cluster_is_in_a_cluster_file(request):
    root = request.config.rootpath
    # dask_scheduler asks for dask_client in its cluster runs (slow, so
    # deselected by default: their synchronous twins name the files).
    cluster = {"dask_client", "dask_scheduler"}
    files = {item.path.relative_to(root).as_posix() for item in request.session.items
             if cluster & set(getattr(item, "fixturenames", ()))}
    assert files <= set(conftest.CLUSTER_FILES), files - set(conftest.CLUSTER_FILES)


def test_the_cluster_files_are_one_unit_and_other_files_their_own():
    scheduler = object.__new__(conftest.OneClusterScheduling)  # _split_scope reads no state
    scopes = {scheduler._split_scope(f"{path}::test_x[a-b]") for path in conftest.CLUSTER_FILES}
    assert scopes == {"dask cluster"}
    assert scheduler._split_scope("tests/test_cli.py::test_x") == "tests/test_cli.py"
    assert scheduler._split_scope(
        "skcausal_trust/privacy/audit.py::skcausal_trust.privacy.audit.f"
    ) == "skcausal_trust/privacy/audit.py"
