pytest_plugins = ["confide_devstack.pytest_plugin"]
