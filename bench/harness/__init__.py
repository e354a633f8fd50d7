"""What the benches (and the tests that check them) share: the judges and their data. Nothing in
here is shipped to users (the registry archive leaves ``bench/`` out; see ``.comfyignore``)."""
