# The fixture packages' own tests run only where those packages are installed: test_third_party.py
# installs them into a temporary folder and runs their tests in a subprocess.
collect_ignore_glob = ["fixtures/*"]
