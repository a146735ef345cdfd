"""factory_boy factories for the registry's models (services are used where a workflow is
needed: production and issuance go through the service layer so that tests see real rows)."""

import factory

from accounts.models import HoldingAccount, Organisation, User


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda number: f"org-{number}")
    name = factory.Sequence(lambda number: f"Organisation {number}")
    kind = Organisation.Kind.TRADER


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda number: f"user{number}")
    organisation = factory.SubFactory(OrganisationFactory)
    role = User.Role.HOLDER


class HoldingAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HoldingAccount

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda number: f"Account {number}")
    number = factory.Sequence(lambda number: f"CN-T{number:07d}")
