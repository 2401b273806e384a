"""``mplink move``: the buyer's side of the billing-account change, a program of its own.

It uses AWS's buyer APIs as the buyer and the seller's JSON API as a client, as a customer's consultant
would; it imports nothing of the seller (domain, services, adapters, web). The parts, in the order a run uses them:

- ``plan``: the read-only preflight and the decisions it makes (which offer, what step 1 does);
- ``aws``: the buyer's AWS calls (boto3, one session per AWS profile);
- ``seller``: the seller's API over httpx, and ``change`` for the account change it reports;
- ``state``: the state file that makes a run resumable;
- ``runner``: ``apply`` (and the manual mode), with observers that see each step;
- ``cli``: the ``mplink move plan|apply|status`` commands.
"""
