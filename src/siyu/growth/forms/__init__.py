"""Forms, landing pages and surveys (问卷, NPS) hosted at ``/f/{slug}``: a builder for the
console, the public page customers answer (phone verified by SMS, consent kept as evidence,
UTM and referral captured), and the NPS figures and follow-up actions of surveys."""
