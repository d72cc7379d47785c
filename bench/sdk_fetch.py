"""The way users fetch Key Vault secrets in Python today: azure-identity's
ManagedIdentityCredential and azure-keyvault-secrets' SecretClient.

usage: sdk_fetch.py VAULT_URL SECRET...   (prints how many values it read)
"""
import sys

from azure.identity import ManagedIdentityCredential
from azure.keyvault.secrets import SecretClient


def main() -> None:
    vault_url, names = sys.argv[1], sys.argv[2:]
    client = SecretClient(vault_url, ManagedIdentityCredential(), verify_challenge_resource=False)
    values = [client.get_secret(name).value for name in names]
    assert all(values), "a secret came back empty"
    print(len(values))


if __name__ == "__main__":
    main()
