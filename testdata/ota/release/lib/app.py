# a test file of the OTA test vector
VERSION = "9.9.9-test"


def run():
    print("running", VERSION)
