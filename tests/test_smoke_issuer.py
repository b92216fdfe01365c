import httpx
from jose import jwt

from devstack.jwt_issuer import JwtIssuer


def test_issuer_serves_jwks_that_verifies_its_tokens(jwt_issuer: JwtIssuer) -> None:
    token = jwt_issuer.sign({"sub": "alice", "aud": "x"})
    conf = httpx.get(f"{jwt_issuer.issuer}/.well-known/openid-configuration").json()
    keys = httpx.get(conf["jwks_uri"]).json()
    claims = jwt.decode(token, keys, algorithms=["RS256"], audience="x")
    assert claims["sub"] == "alice"
